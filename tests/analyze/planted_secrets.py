"""A planted corpus of fake credentials: every kind written once in code and once in a comment or config file.

Every value is generated here from a seeded random filler in the format's own alphabet and shape (prefixes,
lengths, checksum-free), so no real credential lives in the repository and no scanner of ours is tuned to a
fixed string. `corpus()` gives the files; `PlantedSecret.fragments` are the pieces that must not survive in any
output (12-character windows of the random part, so a partial redaction is caught too). Used by the tests and by
`bench/secrets.py`, which compares engines on it.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass

UPPER_DIGITS = string.ascii_uppercase + string.digits
BASE32 = string.ascii_uppercase + "234567"
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
WINDOW = 12


@dataclass(frozen=True)
class PlantedSecret:
    kind: str
    placement: str  # "code" or "config"
    path: str
    value: str  # as written in the file
    secret: str  # the random parts that must go, whitespace between parts written apart

    @property
    def fragments(self) -> list[str]:
        """12-character windows of every line of the secret, the line's end included (a key block's lines are
        written apart: with comment markers, or escaped in JSON)."""
        out = []
        for line in self.secret.split():
            if len(line) <= WINDOW:
                out.append(line)
            else:
                out.extend(line[i:i + WINDOW] for i in range(0, len(line) - WINDOW + 1, WINDOW))
                out.append(line[-WINDOW:])
        return out


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _pem(rng: random.Random, label: str) -> tuple[str, str]:
    body = "\n".join(_pick(rng, B64, 64) for _ in range(6)) + "\n" + _pick(rng, B64, 40) + "=="
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----", body


# kind -> (variable name as people write it, value maker returning (value as written, its random part))
def _makers() -> dict[str, tuple[str, object]]:
    def plain(prefix: str, alphabet: str, n: int, suffix: str = ""):
        def make(rng):
            part = _pick(rng, alphabet, n)
            return prefix + part + suffix, part
        return make

    def slack_bot(rng):
        part = _pick(rng, ALNUM, 24)
        return f"xoxb-{_pick(rng, string.digits, 12)}-{_pick(rng, string.digits, 13)}-{part}", part

    def slack_webhook(rng):
        part = _pick(rng, ALNUM, 24)
        return f"https://hooks.slack.com/services/T{_pick(rng, UPPER_DIGITS, 10)}/B{_pick(rng, UPPER_DIGITS, 10)}/{part}", part

    def discord_webhook(rng):
        part = _pick(rng, URLSAFE, 68)
        return f"https://discord.com/api/webhooks/{_pick(rng, string.digits, 18)}/{part}", part

    def github_fine_grained(rng):
        part = _pick(rng, ALNUM, 22) + "_" + _pick(rng, ALNUM, 59)
        return "github_pat_" + part, part

    def openai(rng):
        a, b = _pick(rng, ALNUM, 20), _pick(rng, ALNUM, 20)
        return f"sk-proj-{a}T3BlbkFJ{b}", f"{a} {b}"

    def anthropic(rng):
        part = _pick(rng, URLSAFE, 93)
        return f"sk-ant-api03-{part}AA", part

    def sendgrid(rng):
        a, b = _pick(rng, URLSAFE, 22), _pick(rng, URLSAFE, 43)
        return f"SG.{a}.{b}", f"{a} {b}"

    def jwt(rng):
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        claims = base64.urlsafe_b64encode(
            f'{{"sub":"{_pick(rng, string.digits, 10)}","name":"Fake User","iat":1516239022}}'.encode()).decode().rstrip("=")
        sig = _pick(rng, URLSAFE, 43)
        return f"{header}.{claims}.{sig}", f"{claims[12:]} {sig}"

    def azure_storage(rng):
        part = _pick(rng, B64, 86) + "=="
        return f"DefaultEndpointsProtocol=https;AccountName=fakeacct;AccountKey={part};EndpointSuffix=core.windows.net", part

    def url_credentials(rng):
        part = "Fake" + _pick(rng, ALNUM, 14)
        return f"postgresql://app_user:{part}@db.internal:5432/orders", part

    def mongodb(rng):
        part = "Fake" + _pick(rng, ALNUM, 14)
        return f"mongodb+srv://admin:{part}@cluster0.fake.mongodb.net/test", part

    def telegram(rng):
        part = _pick(rng, URLSAFE, 33)
        return f"{_pick(rng, string.digits, 10)}:AA{part}", part

    def heroku(rng):
        h = _pick(rng, HEX, 32)
        value = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return value, value

    def terraform(rng):
        a, b = _pick(rng, ALNUM, 14), _pick(rng, ALNUM, 67)
        return f"{a}.atlasv1.{b}", f"{a} {b}"

    def grafana_sa(rng):
        part = _pick(rng, ALNUM, 32)
        return f"glsa_{part}_{_pick(rng, HEX, 8)}", part

    def twilio(rng):
        part = _pick(rng, HEX, 32)
        return "SK" + part, part

    def mailchimp(rng):
        part = _pick(rng, HEX, 32)
        return part + "-us12", part

    def basic_auth(rng):
        password = "Fake" + _pick(rng, ALNUM, 14)
        encoded = base64.b64encode(f"deploy:{password}".encode()).decode()
        return "Basic " + encoded, encoded

    def bearer(rng):
        part = _pick(rng, ALNUM, 40)
        return "Bearer " + part, part

    def age_key(rng):
        part = _pick(rng, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
        return "AGE-SECRET-KEY-1" + part, part

    def azure_ad(rng):
        part = _pick(rng, ALNUM, 31)
        return f"{_pick(rng, ALNUM, 3)}8Q~{part}", part

    def facebook(rng):
        part = _pick(rng, ALNUM, 100)
        return "EAACEdEose0cBA" + part, part

    def password(rng):
        part = "Fake" + _pick(rng, ALNUM, 12) + "!"
        return part, part

    def hex_key(rng):
        part = _pick(rng, HEX, 64)
        return part, part

    def aws_secret(rng):
        part = _pick(rng, B64, 40)
        return part, part

    return {
        "aws_access_key_id": ("aws_access_key_id", plain("AKIA", BASE32, 16)),
        "aws_secret_access_key": ("aws_secret_access_key", aws_secret),
        "github_pat": ("github_token", plain("ghp_", ALNUM, 36)),
        "github_fine_grained_pat": ("gh_token", github_fine_grained),
        "github_oauth": ("github_oauth_token", plain("gho_", ALNUM, 36)),
        "gitlab_pat": ("gitlab_token", plain("glpat-", URLSAFE, 20)),
        "slack_bot_token": ("slack_bot_token", slack_bot),
        "slack_webhook": ("slack_webhook_url", slack_webhook),
        "discord_webhook": ("discord_webhook", discord_webhook),
        "stripe_secret_key": ("stripe_secret_key", plain("sk_live_", ALNUM, 24)),
        "stripe_restricted_key": ("stripe_restricted", plain("rk_live_", ALNUM, 24)),
        "google_api_key": ("google_maps_key", plain("AIza", URLSAFE, 35)),
        "openai_api_key": ("openai_api_key", openai),
        "anthropic_api_key": ("anthropic_api_key", anthropic),
        "sendgrid_api_key": ("sendgrid_api_key", sendgrid),
        "npm_token": ("npm_token", plain("npm_", ALNUM, 36)),
        "pypi_token": ("pypi_token", plain("pypi-AgEIcHlwaS5vcmc", URLSAFE, 60)),
        "jwt": ("session_jwt", jwt),
        "azure_storage_connection_string": ("azure_storage", azure_storage),
        "rsa_private_key": ("rsa_key", lambda rng: _pem(rng, "RSA PRIVATE KEY")),
        "openssh_private_key": ("ssh_key", lambda rng: _pem(rng, "OPENSSH PRIVATE KEY")),
        "pgp_private_key": ("pgp_key", lambda rng: _pem(rng, "PGP PRIVATE KEY BLOCK")),
        "database_url_credentials": ("database_url", url_credentials),
        "mongodb_url_credentials": ("mongo_uri", mongodb),
        "twilio_api_key": ("twilio_api_key", twilio),
        "mailgun_api_key": ("mailgun_api_key", plain("key-", HEX, 32)),
        "mailchimp_api_key": ("mailchimp_api_key", mailchimp),
        "heroku_api_key": ("heroku_api_key", heroku),
        "digitalocean_token": ("digitalocean_token", plain("dop_v1_", HEX, 64)),
        "shopify_access_token": ("shopify_token", plain("shpat_", HEX, 32)),
        "square_access_token": ("square_token", plain("EAAA", URLSAFE, 60)),
        "telegram_bot_token": ("telegram_bot_token", telegram),
        "vault_token": ("vault_token", plain("hvs.", URLSAFE, 90)),
        "terraform_cloud_token": ("tfc_token", terraform),
        "databricks_token": ("databricks_token", plain("dapi", HEX, 32)),
        "doppler_token": ("doppler_token", plain("dp.pt.", ALNUM, 43)),
        "linear_api_key": ("linear_api_key", plain("lin_api_", ALNUM, 40)),
        "newrelic_user_key": ("new_relic_key", plain("NRAK-", UPPER_DIGITS, 27)),
        "grafana_service_account_token": ("grafana_token", grafana_sa),
        "huggingface_token": ("hf_token", plain("hf_", string.ascii_letters, 34)),
        "pulumi_token": ("pulumi_access_token", plain("pul-", HEX, 40)),
        "age_secret_key": ("age_key", age_key),
        "azure_ad_client_secret": ("azure_client_secret", azure_ad),
        "facebook_access_token": ("facebook_token", facebook),
        "basic_auth_header": ("authorization", basic_auth),
        "bearer_token": ("authorization", bearer),
        "password_assignment": ("db_password", password),
        "hex_signing_key": ("signing_key", hex_key),
        "password_in_prose": ("", password),
    }


# Where the second copy goes, in turn: comments in code and config files of seven types.
CONFIG_PLACES = ("yaml", "json", "env", "markdown", "dockerfile", "shell", "python_comment", "js_comment", "toml")
CODE_PLACES = ("python", "javascript", "go")


def _code_line(place: str, name: str, value: str) -> str:
    if "\n" in value:  # a key block: a multi-line string
        return {"python": f'{name.upper()} = """{value}\n"""',
                "javascript": f"const {name} = `{value}\n`;",
                "go": f"var {name} = `{value}\n`"}[place]
    return {"python": f'{name.upper()} = "{value}"', "javascript": f'const {name} = "{value}";',
            "go": f'var {name} = "{value}"'}[place]


def _config_line(place: str, name: str, value: str) -> str:
    if not name:  # a password in prose: written in a sentence of a comment or a document
        sentence = f"the admin password is {value} (login with root / {value} on staging)"
        return {"python_comment": f"# NOTE: {sentence}", "js_comment": f"// TODO rotate: {sentence}",
                "markdown": f"For the demo, {sentence}.", "shell": f"# {sentence}",
                "dockerfile": f"# {sentence}", "yaml": f"# {sentence}", "toml": f"# {sentence}",
                "env": f"# {sentence}", "json": f'"_comment": "{sentence}"'}[place]
    if "\n" in value:
        indented = "\n".join("  " + line for line in value.splitlines())
        escaped = value.replace("\n", "\\n")
        return {"yaml": f"{name}: |\n{indented}", "json": f'"{name}": "{escaped}\\n"',
                "env": f'{name.upper()}="{escaped}"', "markdown": f"```\n{value}\n```",
                "dockerfile": f'ENV {name.upper()}="{escaped}"', "shell": f"cat > key.pem <<'EOF'\n{value}\nEOF",
                "python_comment": "\n".join("# " + line for line in value.splitlines()),
                "js_comment": "/*\n" + value + "\n*/", "toml": f'{name} = """\n{value}\n"""'}[place]
    if name == "authorization":
        return {"yaml": f"authorization: {value}", "json": f'"Authorization": "{value}"',
                "env": f'AUTH_HEADER="Authorization: {value}"', "markdown": f'`curl -H "Authorization: {value}" https://api.example.com`',
                "dockerfile": f'RUN curl -H "Authorization: {value}" https://api.example.com/setup',
                "shell": f'curl -H "Authorization: {value}" https://api.example.com/v1/items',
                "python_comment": f'# curl -H "Authorization: {value}" https://api.example.com',
                "js_comment": f'// headers: {{ Authorization: "{value}" }}', "toml": f'authorization = "{value}"'}[place]
    return {"yaml": f"{name}: {value}", "json": f'"{name}": "{value}"', "env": f"{name.upper()}={value}",
            "markdown": f"Set `{name.upper()}={value}` before running.", "dockerfile": f"ENV {name.upper()}={value}",
            "shell": f'export {name.upper()}="{value}"', "python_comment": f"# {name}: {value}",
            "js_comment": f"// {name}: {value}", "toml": f'{name} = "{value}"'}[place]


EXTENSIONS = {"python": "settings.py", "javascript": "client.js", "go": "config.go", "yaml": "deploy.yaml",
              "json": "settings.json", "env": "app.env", "markdown": "SETUP.md", "dockerfile": "Dockerfile",
              "shell": "deploy.sh", "python_comment": "notes.py", "js_comment": "notes.js", "toml": "config.toml"}


def _wrap(place: str, lines: list[str]) -> str:
    if place == "json":
        return "{\n" + ",\n".join("  " + line for line in lines) + "\n}\n"
    if place == "go":
        return "package config\n\n" + "\n".join(lines) + "\n"
    if place == "python_comment":
        return "\n\n".join(f"{line}\ndef step_{i}():\n    return {i}\n" for i, line in enumerate(lines))
    if place == "js_comment":
        return "\n".join(f"{line}\nfunction step{i}() {{ return {i}; }}\n" for i, line in enumerate(lines))
    if place == "shell":
        return "#!/bin/sh\nset -e\n" + "\n".join(lines) + "\n"
    if place == "dockerfile":
        return "FROM python:3.12-slim\n" + "\n".join(lines) + '\nCMD ["python", "app.py"]\n'
    if place == "markdown":
        return "# Setup\n\n" + "\n\n".join(lines) + "\n"
    return "\n".join(lines) + "\n"


def corpus(seed: int = 0, folder: str = "planted") -> tuple[dict[str, str], list[PlantedSecret]]:
    """{path: text} of the planted files and every planted secret (one per kind in code, one in config)."""
    makers = _makers()
    lines: dict[str, list[str]] = {}
    planted: list[PlantedSecret] = []
    for i, (kind, (name, make)) in enumerate(makers.items()):
        code_place = CODE_PLACES[i % len(CODE_PLACES)]
        config_place = CONFIG_PLACES[i % len(CONFIG_PLACES)]
        for placement, place in (("code", code_place), ("config", config_place)):
            rng = random.Random(f"{seed}:{kind}:{placement}")
            value, secret = make(rng)
            if placement == "code" and not name:  # prose goes in a docstring and a string in code
                line = {"python": f'def login():\n    """The admin password is {value}."""\n    return None',
                        "javascript": f'/** The admin password is {value}. */\nfunction login() {{ return null; }}',
                        "go": f"// Login: the admin password is {value}.\nfunc Login() {{}}"}[place]
            elif placement == "code":
                line = _code_line(place, name, value)
            else:
                line = _config_line(place, name, value)
            path = f"{folder}/{EXTENSIONS[place]}"
            lines.setdefault(place, []).append(line)
            planted.append(PlantedSecret(kind, placement, path, value, secret))
    files = {f"{folder}/{EXTENSIONS[place]}": _wrap(place, place_lines) for place, place_lines in lines.items()}
    return files, planted


def file_types(planted: list[PlantedSecret]) -> set[str]:
    return {p.path.rsplit("/", 1)[-1].rsplit(".", 1)[-1] for p in planted}
