function handle(message, context, send) {
  console.log(message);
  send("out", message);
}
