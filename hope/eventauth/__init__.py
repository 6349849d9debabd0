"""Event authentication: who sent an event, proven, on every frame of the bus.

Each principal (a supervisord program, ``operator`` for the CLI) holds one X25519 key pair:
the secret in ``<state>/keys/<principal>/event.key`` (0600, its dir 0700), the public part in
``<state>/keys/public/<principal>.event.pub``. A publisher and a consumer derive the same pair
key from their own secret and the other's public key (Diffie-Hellman), so no secret is shared
beyond the two: a consumer cannot make a MAC another consumer would accept as the publisher's.
Every event travels as ``[topic, body, auth]``, where ``auth`` holds one 16-byte keyed BLAKE2b
MAC of the exact body bytes per recipient (:mod:`hope.eventauth.seal`). The receive path
(:mod:`hope.eventauth.gate`) checks the MAC, the publisher named in the body against the signer,
the authority table (:mod:`hope.authority`) and the replay rules
(:mod:`hope.eventauth.freshness`). Why this scheme and what it costs: docs/SECURITY.md.
"""
