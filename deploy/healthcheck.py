"""The image's HEALTHCHECK: GET /health/ on this container's Daphne; exit 0 when every check is OK.

The request names an allowed host and says it came through TLS (as the proxy does), so the
production settings neither refuse the host nor redirect it to https.
"""

import json
import os
import sys
import urllib.error
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/?format=json"
request = urllib.request.Request(url, headers={"Host": "localhost", "X-Forwarded-Proto": "https"})
try:
    with urllib.request.urlopen(request, timeout=8) as response:
        checks = json.load(response)
except (urllib.error.URLError, OSError, ValueError) as error:
    sys.exit(f"unhealthy: {error}")
failing = {name: result for name, result in checks.items() if result != "OK"}
sys.exit(f"unhealthy: {failing}" if failing else 0)
