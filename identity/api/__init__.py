"""The identity app's REST endpoints: phone sign-in, the signed-in user, owners' apps, and apps' own calls."""
