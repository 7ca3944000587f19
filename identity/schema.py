"""OpenAPI descriptions of the two authentication schemes (loaded from IdentityConfig.ready())."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AppCredentialScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.AppCredentialAuthentication"
    name = "appCredentials"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic",
                "description": "Application credentials: public key pq_pk_… as user name, secret pq_sk_… as "
                               "password. Each endpoint requires one scope of the credential."}


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.SessionTokenAuthentication"
    name = "sessionToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A signed-in user's session token (pq_st_…), from POST /identity/otp/verify."}
