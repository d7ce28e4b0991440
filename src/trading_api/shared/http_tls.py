"""One TLS context per process for the project's httpx clients.

httpx builds a new TLS context for every client it makes, and building one
reads the whole CA bundle: about 50 ms of CPU, more than a loopback request
takes (``httpx.get`` makes a client per call). The project's clients (the
generated ones, the JWKS fetch, the test helpers) pass this one instead: httpx's
own defaults (certifi's CAs, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set),
built at the first client and shared after. A context is safe to share between
connections and threads; nothing changes it once built.
"""

import ssl
from functools import cache


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process."""
    import httpx

    return httpx.create_ssl_context()
