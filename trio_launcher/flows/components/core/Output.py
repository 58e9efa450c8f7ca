def handle(message, context, send):
    print(message, flush=True)
    send("out", message)
