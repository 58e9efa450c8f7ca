def handle(message, context, send):
    pass
