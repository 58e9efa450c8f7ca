"""What the servers and clients of this package speak over: HTTP and WebSocket.

``http_messages`` (requests and responses), ``http_server`` (the h11 front end
with its deadlines), ``routes`` (method and path to handler), ``json_server``
(``serve_json``, the health endpoints), ``http_client`` (the httpx clients),
``grant_token`` (``POST /runners/auth``), ``websocket`` (trio-websocket, loaded by
``trio_websocket_import``, over ``batching_stream``), ``connection_slots``
(connections within the file descriptors), ``boundary`` (what is logged of an
unexpected error) and ``jsonlimit`` (JSON from untrusted peers).

Nothing is imported here: each user loads only the modules it needs.
"""
