"""Who is calling: the department named by the caller's verified certificate.

gRPC's TLS layer has already checked that the client certificate chains to the
CA. Here we additionally apply the CA's revocation list and aidlink's identity
policy, and never trust a department named by the caller in a request field.
:class:`AuthenticationInterceptor` does this for every call and puts the caller
into the call's record (:mod:`aidlink.matcher.calls`); it raises refusals, which
the error-mapping interceptor answers and the audit interceptor records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc

from aidlink.keys.identity import CertificatePolicy, CertificateRejected, IdentityError, RevocationUnknown
from aidlink.matcher.calls import (
    OPEN_METHOD_PREFIXES,
    Caller,
    CallRecord,
    bind_call,
    current_call,
    unbind_call,
    wrap_handler,
)
from aidlink.matcher.errors import NotPermitted, Refused
from aidlink.matcher.revocation import RevocationUnavailable

DEV_DEPARTMENT_HEADER = "x-aidlink-dev-department"

# Which kinds of identity may call which service: departments' nodes use the
# matcher; security officers read the audit trail. Anything else is refused.
SERVICE_KINDS = {
    "/aidlink.v1.Matcher/": ("node",),
    "/aidlink.v1.AuditTrail/": ("officer",),
    "/aidlink.v1.Catalog/": ("node", "officer"),
    "/aidlink.v1.Disputes/": ("node",),
    "/aidlink.v1.Monitoring/": ("node",),
}


def kinds_allowed(method: str) -> tuple[str, ...]:
    for prefix, kinds in SERVICE_KINDS.items():
        if method.startswith(prefix):
            return kinds
    return ()


class NotAllowed(NotPermitted):
    """An authenticated identity calling a service its kind may not use."""


def check_kind(caller: Caller, method: str) -> None:
    allowed = kinds_allowed(method)
    if caller.kind not in allowed:
        service = method.strip("/").split("/")[0]
        raise NotAllowed(
            f"{caller.identity} is a {caller.kind} identity; {service} is for {' or '.join(allowed) or 'no one'}"
        )


class Unauthenticated(Refused):
    """The caller's identity could not be verified (no certificate, revoked, outside policy)."""

    status = "UNAUTHENTICATED"

    def __str__(self) -> str:
        return f"authentication failed: {super().__str__()}"


class AuthenticationInterceptor(grpc.ServerInterceptor):
    """Verifies the caller of every call (``authenticate``: certificate or development header)
    and that its kind may use the service, and puts it into the call record before the servicer
    runs. A caller that fails is refused with :class:`Unauthenticated` or :class:`NotAllowed`."""

    def __init__(self, authenticate: Callable[[grpc.ServicerContext], Caller]) -> None:
        self.authenticate = authenticate

    def _enter(self, method: str, context: grpc.ServicerContext):
        try:
            record, token = current_call(), None
        except LookupError:  # no audit interceptor in front: the call record is ours
            record = CallRecord(method=method)
            token = bind_call(record)
        try:
            caller = self.authenticate(context)
            check_kind(caller, method)
        except BaseException:
            if token is not None:
                unbind_call(token)
            raise
        record.caller = caller
        return token

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler

        def wrap(behavior, streaming: bool):
            if streaming:

                def authenticated_stream(request, context):
                    token = self._enter(method, context)
                    try:
                        yield from behavior(request, context)
                    finally:
                        if token is not None:
                            unbind_call(token)

                return authenticated_stream

            def authenticated(request, context):
                token = self._enter(method, context)
                try:
                    return behavior(request, context)
                finally:
                    if token is not None:
                        unbind_call(token)

            return authenticated

        return wrap_handler(handler, wrap)


class CertificateAuthenticator:
    """mTLS: the identity comes from the peer certificate only, checked against the
    CA, its current revocation list and aidlink's identity policy (node certificates).

    Fails closed: ``crl_pem`` gives the CRL as it is now (e.g. a
    :class:`~aidlink.matcher.revocation.RevocationListFile`); no CRL, a CRL that does not
    parse or is not this CA's, or one past its next-update time refuses every call with
    :class:`~aidlink.matcher.revocation.RevocationUnavailable` (UNAVAILABLE)."""

    def __init__(self, ca_cert_pem: bytes, crl_pem: Callable[[], bytes | None]) -> None:
        self.ca_cert_pem, self.crl_pem = ca_cert_pem, crl_pem
        self._policy: CertificatePolicy | None = None
        self._policy_crl: bytes | None = None

    def _current_policy(self) -> CertificatePolicy:
        crl = self.crl_pem()
        if crl is None:
            raise RevocationUnavailable("no certificate revocation list is configured")
        if self._policy is None or crl != self._policy_crl:
            try:
                policy = CertificatePolicy(self.ca_cert_pem, crl, kinds=("node", "officer"))
            except ValueError as exc:
                raise RevocationUnavailable(f"the certificate revocation list (crl.pem) is not usable: {exc}") from None
            self._policy, self._policy_crl = policy, crl
        return self._policy

    def __call__(self, context: grpc.ServicerContext) -> Caller:
        certs = context.auth_context().get("x509_pem_cert")
        if not certs:
            raise Unauthenticated("no client certificate was presented")
        policy = self._current_policy()
        try:
            ident = policy.check(certs[0])
        except RevocationUnknown as exc:
            raise RevocationUnavailable(
                f"the certificate revocation list (crl.pem) expired at {exc.next_update:%Y-%m-%dT%H:%M:%SZ}"
            ) from None
        except (CertificateRejected, IdentityError) as exc:
            raise Unauthenticated(str(exc)) from None
        return Caller(ident.department or "", f"{ident.uri} serial=0x{ident.serial:x}", ident.kind)


@dataclass
class DevelopmentAuthenticator:
    """Plaintext development mode on loopback only: the department is taken from a
    header ("officer" stands for a security officer). Never used unless the matcher
    was started with the explicit dev flag."""

    def __call__(self, context: grpc.ServicerContext) -> Caller:
        md = dict(context.invocation_metadata())
        dept = md.get(DEV_DEPARTMENT_HEADER, "")
        if not dept:
            raise Unauthenticated(f"development mode: header {DEV_DEPARTMENT_HEADER} is required")
        if dept == "officer":
            return Caller("", "dev:officer", "officer")
        return Caller(dept, f"dev:{dept}", "node")
