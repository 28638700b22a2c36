"""Identity: verifying tokens into profiles, and minting development tokens.

May import: `app.chat` (Profile, errors), `config` (types), pyjwt.
"""
