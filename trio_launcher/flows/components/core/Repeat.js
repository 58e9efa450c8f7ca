function handle(message, context, send) {
  send("out", message);
}
