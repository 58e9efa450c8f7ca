function handle(message, context, send) {}
