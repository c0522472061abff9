"""POST /tokenize, POST /detokenize and GET /tokenizer_info in vLLM's shapes: the served model's own tokenizer and
chat template. A gateway in front of this one (the `upstream` engine) counts its prompts with
them, so oss-sidecar chains to oss-sidecar with no tokenizer file. Outside /v1/, where vLLM has
them; API keys and OpenAI's error body apply as on /v1/.

    {model?, prompt, add_special_tokens=true, return_token_strs=false}
    {model?, messages, add_generation_prompt=true, add_special_tokens=false, return_token_strs=false}
        -> {count, max_model_len, tokens[, token_strs]}
    {model?, tokens} -> {prompt}
    GET /tokenizer_info -> {tokenizer_class, model_max_length, bos_token, eos_token, chat_template}
        (lm-evaluation-harness's `tokenizer_backend=remote` reads it, then tokenizes with /tokenize)
"""
from __future__ import annotations

from typing import Any, Optional

from aiohttp import web
from pydantic import Field, ValidationError, model_validator

from gateway.api.app_keys import SERVING
from gateway.api.message_order import check_message_order
from gateway.api.openai import protocol as p
from gateway.api.openai.handlers import json_object, parse_body
from gateway.errors import ApiError, bad_request, from_validation_error
from gateway.serving import Serving

routes = web.RouteTableDef()
# Beyond the OpenAI wire's /v1/ prefix: the key check covers these paths too.
PATHS = ("/tokenize", "/detokenize", "/tokenizer_info")

# vLLM's chat-form fields this server cannot honour: given (not null or empty), a 400 naming them.
_CHAT_UNSUPPORTED = {
    "tools": "tools are not rendered by /tokenize here; count the chat without them",
    "chat_template": "a request's own chat template is not supported; the model's own is used",
    "chat_template_kwargs": "chat_template_kwargs are not supported",
    "mm_processor_kwargs": "this model takes text only",
    "media_io_kwargs": "this model takes text only",
}


class TokenizeCompletionRequest(p._Request):
    model: Optional[str] = None
    prompt: str
    # vLLM's default: the special tokens (a BOS) the model's tokenizer adds to a prompt.
    add_special_tokens: bool = True
    return_token_strs: Optional[bool] = False


class TokenizeChatRequest(p._Request):
    model: Optional[str] = None
    messages: list[p.ChatMessage] = Field(..., min_length=1)
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    # The chat template writes the special tokens itself; true adds the tokenizer's on top.
    add_special_tokens: bool = False
    return_token_strs: Optional[bool] = False
    tools: Any = None
    chat_template: Any = None
    chat_template_kwargs: Any = None
    mm_processor_kwargs: Any = None
    media_io_kwargs: Any = None

    @model_validator(mode="after")
    def _check(self) -> "TokenizeChatRequest":
        for name, why in _CHAT_UNSUPPORTED.items():
            if getattr(self, name) not in (None, {}, [], ""):
                raise bad_request(f"{name}: {why}", param=name, code="unsupported_field")
        if self.continue_final_message:
            raise bad_request(
                "continue_final_message: not supported; chat prompts here end with the generation prompt",
                param="continue_final_message", code="unsupported_field",
            )
        if not self.add_generation_prompt:
            raise bad_request(
                "add_generation_prompt: only true is supported (the prompt a chat request here sends to the model)",
                param="add_generation_prompt", code="unsupported_field",
            )
        # The chat request's own rules: the template cannot render what chat refuses either.
        check_message_order([(m.role, bool(m.tool_calls)) for m in self.messages])
        return self


class TokenizeResponse(p.Out):
    count: int
    max_model_len: int
    tokens: list[int]
    token_strs: Optional[list[str]] = None


class DetokenizeRequest(p._Request):
    model: Optional[str] = None
    tokens: list[int]


class DetokenizeResponse(p.Out):
    prompt: str


class TokenizerInfo(p.Out):
    tokenizer_class: str
    model_max_length: int
    bos_token: Optional[str] = None
    eos_token: Optional[str] = None
    chat_template: Optional[str] = None


def _serving(request: web.Request, model: Optional[str]) -> Serving:
    serving: Serving = request.app[SERVING]
    serving.check_ready()
    serving.check_model(model)
    return serving


@routes.post("/tokenize")
async def tokenize(request: web.Request) -> web.Response:
    data = await json_object(request)
    # vLLM tells the two forms apart by `messages`; so does this.
    form = TokenizeChatRequest if "messages" in data else TokenizeCompletionRequest
    try:
        req = form.model_validate(data)
    except ValidationError as err:
        raise from_validation_error(err) from None
    serving = _serving(request, req.model)
    tokenizer = serving.engine.tokenizer
    try:
        if isinstance(req, TokenizeChatRequest):
            text = await tokenizer.apply_chat_template([m.neutral() for m in req.messages])
        else:
            text = req.prompt
        tokens = await (tokenizer.encode_prompt(text) if req.add_special_tokens else tokenizer.encode(text))
        strs = await tokenizer.token_strs(tokens) if req.return_token_strs else None
    except ValueError as exc:  # a chat the model's template refuses
        raise bad_request(str(exc), param="messages" if isinstance(req, TokenizeChatRequest) else "prompt") from None
    extra = {"token_strs": strs} if strs is not None else {}
    body = TokenizeResponse(count=len(tokens), max_model_len=tokenizer.context_length, tokens=tokens, **extra)
    return web.json_response(body.dump())


@routes.post("/detokenize")
async def detokenize(request: web.Request) -> web.Response:
    req = await parse_body(request, DetokenizeRequest)
    serving = _serving(request, req.model)
    try:
        text = await serving.engine.tokenizer.decode(req.tokens)
    except ValueError as exc:  # an id outside the vocabulary
        raise bad_request(str(exc), param="tokens", code="invalid_value") from None
    return web.json_response(DetokenizeResponse(prompt=text).dump())


@routes.get("/tokenizer_info")
async def tokenizer_info(request: web.Request) -> web.Response:
    serving = _serving(request, None)
    try:
        info = await serving.engine.tokenizer.info()
    except NotImplementedError as exc:
        raise ApiError(404, f"tokenizer_info: {exc}", code="not_found") from None
    return web.json_response(TokenizerInfo(**info).model_dump())
