"""A fake Kubernetes API for custom resources, at the HTTP level, so the real `kubernetes` client is exercised
(no API server can run on these machines). It keeps objects in memory, answers create/get/list/merge-patch/
delete with the status codes and Status bodies the API server uses, records every request, and calls an
`operator` hook on each GET so a test can play the controller (KubeRay, KServe) moving an object's status."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from typing import Any

from tests.json_http import JsonServer

PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/?]+)"
                  r"(?:/(?P<name>[^/?]+))?")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what `application/merge-patch+json` means to the API server)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeKubernetes:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name) -> object
        self.requests: list[tuple[str, str, Any]] = []
        self.operators: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.lock = threading.Lock()
        self._http: JsonServer | None = None
        self.url = ""

    def __enter__(self) -> FakeKubernetes:
        # through a lambda: tests may replace self.handle to inject faults
        self._http = JsonServer(lambda method, path, body: self.handle(method, path, body))
        self.url = self._http.url
        return self

    def __exit__(self, *exc: Any) -> None:
        self._http.close()

    @property
    def content_types(self) -> list[tuple[str, str | None]]:
        return self._http.content_types

    def api_client(self) -> Any:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    def _status(self, code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
        return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                      "message": message, "code": code}

    def handle(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, body))
        match = PATH.match(path)
        if not match:
            return self._status(404, "NotFound", f"no route {path}")
        plural, ns, name = match["plural"], match["ns"], match["name"]
        with self.lock:
            if method == "POST":
                name = body["metadata"]["name"]
                if (plural, ns, name) in self.objects:
                    return self._status(409, "AlreadyExists", f'{plural} "{name}" already exists')
                obj = copy.deepcopy(body)
                obj["metadata"].update(namespace=ns, generation=1, uid=f"uid-{len(self.objects)}")
                self.objects[(plural, ns, name)] = obj
                return 201, obj
            if name is None and method == "GET":
                items = [o for (p, n, _), o in self.objects.items() if p == plural and n == ns]
                return 200, {"kind": "List", "items": items}
            key = (plural, ns, name)
            if key not in self.objects:
                return self._status(404, "NotFound", f'{plural} "{name}" not found')
            if method == "GET":
                if plural in self.operators:
                    self.operators[plural](self.objects[key])
                return 200, self.objects[key]
            if method == "PATCH":
                obj = merge_patch(self.objects[key], body)
                obj["metadata"]["generation"] = self.objects[key]["metadata"].get("generation", 1) + 1
                self.objects[key] = obj
                return 200, obj
            if method == "DELETE":
                self.objects.pop(key)
                return 200, {"kind": "Status", "status": "Success"}
        return self._status(405, "MethodNotAllowed", method)
