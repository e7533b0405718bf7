"""Whether this process serves HTTP (Daphne, uvicorn, granian run helpdesk.asgi).

helpdesk/asgi.py sets it before the settings load; the settings then give the process its pool of
database connections (DATABASE_POOL_SIZE). Workers, beat and management commands stay without one.
"""

serving = False
