"""Admin API for managed application notifications: every delivery attempt, and Marketplace plans' endpoints.

``GET /notifications`` lists each attempt (time, uri without its query, applicationId, eventType,
provisioningState, attempt number, status answered or the failure when nothing was); ``DELETE`` clears the log.
``PUT /marketplace/notification-endpoint`` ``{"publisher", "product", "plan", "uri"}`` stands for the
"Notification Endpoint URL" a publisher sets on a plan in Partner Center; ``GET`` lists them (uris without their
query), ``DELETE ?publisher=&product=&plan=`` removes one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .arm.notifications import Notifier
from .arm.notifications import for_world as notifier_of
from .httpd import Request, Response, Router, json_response
from .state import World

_PLAN_FIELDS = ("publisher", "product", "plan")


def _bad(message: str) -> Response:
    return json_response({"error": {"code": "BadRequest", "message": message}}, 400)


class NotificationsAdmin:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def attempts(self, request: Request) -> Response:
        return json_response({"attempts": self.notifier.attempts()})

    def clear(self, request: Request) -> Response:
        self.notifier.clear_attempts()
        return json_response({"attempts": []})

    def plan_endpoints(self, request: Request) -> Response:
        return json_response({"endpoints": self.notifier.plan_endpoints()})

    def set_plan_endpoint(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError as exc:
            return _bad(f"invalid JSON: {exc}")
        if not isinstance(body, dict) or any(
            not isinstance(body.get(f), str) or not body[f] for f in (*_PLAN_FIELDS, "uri")
        ):
            return _bad('expected {"publisher", "product", "plan", "uri"} (non-empty strings)')
        if urlsplit(body["uri"]).scheme not in ("http", "https"):
            return _bad("uri must be an http(s) URL")
        self.notifier.set_plan_endpoint(body["publisher"], body["product"], body["plan"], body["uri"])
        return json_response({"endpoints": self.notifier.plan_endpoints()})

    def remove_plan_endpoint(self, request: Request) -> Response:
        publisher, product, plan = (request.q(f) or "" for f in _PLAN_FIELDS)
        if not (publisher and product and plan):
            return _bad("query parameters publisher, product and plan are required")
        if not self.notifier.remove_plan_endpoint(publisher, product, plan):
            return json_response(
                {
                    "error": {
                        "code": "NotFound",
                        "message": f"no endpoint for plan {publisher}/{product}/{plan}",
                    }
                },
                404,
            )
        return json_response({"endpoints": self.notifier.plan_endpoints()})


def register(router: Router, world: World) -> None:
    admin = NotificationsAdmin(notifier_of(world))
    router.add("GET", r"/notifications", admin.attempts)
    router.add("DELETE", r"/notifications", admin.clear)
    router.add("GET", r"/marketplace/notification-endpoint", admin.plan_endpoints)
    router.add("PUT", r"/marketplace/notification-endpoint", admin.set_plan_endpoint)
    router.add("DELETE", r"/marketplace/notification-endpoint", admin.remove_plan_endpoint)
