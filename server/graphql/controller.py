"""/graphql: Strawberry's Litestar controller with the bank's context and auth.

HTTP requests pass the JWT middleware like every REST path. The WebSocket
(graphql-transport-ws only) is excluded from it, because a browser cannot send
headers there: its token is checked on ``connection_init`` instead.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_200_OK, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from runtime.settings import Settings
from server.api.body import decode_body
from server.api.errors import CODE_BY_STATUS, TITLE_BY_STATUS, problem_response
from server.api.security import authenticate_access_token
from server.graphql.context import BankContext, bank_context, token_of
from server.graphql.problems import extensions_of
from server.graphql.schema import build_schema

PATH = "/graphql"
# What an error that no resolver raised carries: graphql-core's refusal of the document.
INVALID_QUERY = extensions_of("invalid_query", 400)
JSON = "application/json"


class GraphQLRequest(msgspec.Struct):
    """The body of a POST (GraphQL over HTTP, one operation: batching is off). Decoded
    strictly before Strawberry reads it, so that a body of another shape is refused with
    REST's codes and words (``invalid_body``, ``malformed_json``), not in plain text or,
    for a JSON string or number, as a 500."""

    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = msgspec.field(default=None, name="operationName")
    extensions: dict[str, Any] | None = None


async def check_request(request: Request) -> None:
    """A 415 for a body that is not declared JSON, a 400 for one that is not a request."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != JSON:
        sent = f"this one was {media_type[:60]}" if media_type else "this one had none"
        raise ClientException(
            detail=f"Send the operation as JSON, with Content-Type: {JSON} ({sent}):"
            ' {"query": "{ me { id } }", "variables": {}}.',
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    await decode_body(request, GraphQLRequest)


def plain_text_as_problem(request: Request, response: Response) -> Response:
    """Strawberry's own refusals (plain text) as the problem document every other
    refusal is, with the code of their status."""
    status = response.status_code or HTTP_200_OK
    if status < 400 or response.media_type != MediaType.TEXT:
        return response
    detail = str(response.content).rstrip(".") + "."
    title = TITLE_BY_STATUS.get(status, "Error")
    return problem_response(
        request,
        status,
        title,
        detail[:1].upper() + detail[1:],
        CODE_BY_STATUS.get(status, "invalid_request"),
    )


def graphql_controller(settings: Settings) -> type:
    # Strawberry builds the controller class at run time (its handlers close over the
    # schema), so the base of ours is a value; typed Any, mypy accepts it as a base class.
    base: Any = make_graphql_controller(
        build_schema(settings),
        path=PATH,
        graphql_ide="graphiql" if settings.graphql_introspection else None,
        allow_queries_via_get=False,  # a GET must never change anything
        context_getter=bank_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        keep_alive=True,
        keep_alive_interval=15,
        max_subscriptions_per_connection=20,
    )

    class GraphQLController(base):
        include_in_schema = False  # not a REST operation of the OpenAPI document

        # The three handlers are declared here, in this order, because Litestar 2.25 loses a
        # WebSocket route registered before the HTTP handlers of the same path (handlers
        # are registered sorted by module and name; Strawberry's come after ours).
        @get(raises=[ValidationException, NotFoundException])
        async def handle_http_get(
            self, request: Request, context: Any, root_value: Any, response: Response
        ) -> Response:
            self.temporal_response = response
            answer = await self.execute_request(
                request=request, context=context, root_value=root_value
            )
            return plain_text_as_problem(request, answer)

        @post(status_code=HTTP_200_OK)
        async def handle_http_post(
            self, request: Request, context: Any, root_value: Any, response: Response
        ) -> Response:
            await check_request(request)
            self.temporal_response = response
            answer = await self.execute_request(
                request=request, context=context, root_value=root_value
            )
            return plain_text_as_problem(request, answer)

        @websocket(opt={"exclude_from_auth": True})
        async def websocket_endpoint(
            self, socket: WebSocket, context_ws: Any, root_value: Any
        ) -> None:
            await self.run(request=socket, context=context_ws, root_value=root_value)

        async def process_result(self, request: Request, result: ExecutionResult) -> Any:
            """A document that does not parse or validate is the client's to change, and
            says so as every other error does: ``code`` (``invalid_query``), ``status``
            and ``classification`` in ``extensions`` (server/graphql/problems.py)."""
            response = await super().process_result(request, result)
            for error in response.get("errors") or []:
                extensions = error.setdefault("extensions", {})
                if "code" not in extensions:
                    extensions.update(INVALID_QUERY)
            return response

        async def on_ws_connect(self, context: BankContext) -> None:
            assert context.websocket is not None
            token = token_of(context.connection_params)
            context.actor = await authenticate_access_token(context.websocket.app, token)
            if context.actor is None:
                raise ConnectionRejectionError(
                    {
                        "code": "unauthorized",
                        "message": "Send a valid access token"
                        ' in the connection_init payload: {"Authorization": "Bearer …"}.',
                    }
                )

    return GraphQLController
