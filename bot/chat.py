"""Chat with the running assistant in a terminal: ``python -m bot.chat`` (while ``make run`` is up).

A tester's tool. It talks to the REST channel exactly as any client does, so
what you see is what the web page gets: the bot's texts, its buttons (type the
number to press one; the button's payload is sent, as a click would) and the
``trial_matches`` result, summarised one line per trial (``--json`` prints it
whole). ``--nurse`` sends ``{"role": "nurse"}`` metadata, as the nurse console does;
``--zh`` sends ``{"language": "zh"}``, as the page's 中文 switch does (typing Chinese
selects Chinese too).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

import click


def send(url: str, sender: str, message: str, metadata: dict | None) -> list[dict]:
    """One message to the REST webhook; the bot's replies."""
    body = {"sender": sender, "message": message, **({"metadata": metadata} if metadata else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read().decode() or "[]")


def show(replies: list[dict], as_json: bool) -> list[dict]:
    """Print the replies; return the buttons offered, in the order they were numbered."""
    buttons: list[dict] = []
    for reply in replies:
        if reply.get("text"):
            click.echo(click.style("bot> ", fg="cyan") + reply["text"])
        for button in reply.get("buttons") or []:
            buttons.append(button)
            click.echo(f"     [{len(buttons)}] {button['title']}")
        custom = reply.get("custom")
        if isinstance(custom, dict) and custom.get("type") == "trial_matches":
            if as_json:
                click.echo(json.dumps(custom, indent=2, ensure_ascii=False))
            badges = custom.get("verdict_words") or {}  # in the conversation's language
            for match in custom.get("matches", []):
                title = (
                    match.get("title_zh")
                    if custom.get("language") == "zh" and match.get("title_zh")
                    else match["title"]
                )
                click.echo(f"     {match['nct_id']}  {badges.get(match['verdict'], match['verdict']):13} {title[:70]}")
    return buttons


@click.command()
@click.option(
    "--url",
    default=lambda: f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}/webhooks/rest/webhook",
    show_default="http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook",
    help="The REST channel.",
)
@click.option("--nurse", is_flag=True, help="Screen as a research nurse (clinical wording).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole trial_matches message.")
@click.option("--zh", is_flag=True, help="Chinese (中文), as the page's language switch.")
def main(url: str, nurse: bool, as_json: bool, zh: bool) -> None:
    """Chat in the terminal. Ctrl-D or /quit leaves."""
    sender = f"terminal-{uuid.uuid4().hex[:12]}"
    metadata = {**({"role": "nurse"} if nurse else {}), **({"language": "zh"} if zh else {})} or None
    click.echo(
        "Say anything to begin, as a patient, a relative or a nurse would. A number presses a button. "
        "Ctrl-D or /quit leaves."
    )
    buttons: list[dict] = []
    while True:
        try:
            typed = input(click.style("you> ", fg="green")).strip()
        except EOFError:
            click.echo()
            return
        if typed == "/quit":
            return
        if typed.isdigit() and 1 <= int(typed) <= len(buttons):
            typed = buttons[int(typed) - 1]["payload"]
        try:
            buttons = show(send(url, sender, typed, metadata), as_json)
        except urllib.error.URLError as e:
            raise click.ClickException(f"cannot reach {url} ({e.reason}): is `make run` up?") from None


if __name__ == "__main__":
    sys.exit(main())
