"""The patient page and the nurse console in a real browser (Debian's Chromium).

Starts the real stack (`python -m bot run`: action server, Rasa with the
socket.io channel of bot/server/channels.py, and the page server of bot/web.py) on
free ports, then drives the pages with Playwright as a person would: typing
some answers, clicking others, one with the keyboard. The verdicts asserted
for the seed-trial patient are the engine's for exactly these answers
(checked with `python -m knowledge match`, and again below against the
engine). Screenshots of each final screen go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.stack import MODEL, ROOT, start_stack

CHROMIUM = Path("/usr/bin/chromium")
WIDGET = ROOT / "web" / "node_modules" / "rasa-webchat" / "lib" / "index.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPLY_TIMEOUT = 8  # seconds the page waits before offering a retry (TRIALBOT_REPLY_TIMEOUT)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make setup`"),
    pytest.mark.skipif(not WIDGET.exists(), reason="no chat widget bundle: run `make setup`"),
]

# The seed-trial patient: 61, hypopharynx, stage IVA, ECOG 1, untreated, squamous, resectable,
# poorly differentiated, no other cancer, not pregnant. The engine says (knowledge match):
EXPECTED = {"NCT06100497": "eligible", "NCT07320690": "ineligible"}
ANSWERS_FOR_ENGINE = dict(
    age="61",
    site="hypopharynx",
    stage="IVA",
    ecog="1",
    prior="none",
    histology="squamous cell carcinoma",
    resectable="yes",
    differentiation="poorly differentiated",
    other_cancer="no",
    pregnant="no",
    sex="male",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    log = tmp_path_factory.mktemp("browser-stack") / "run.log"
    running = start_stack(log, TRIALBOT_REPLY_TIMEOUT=str(REPLY_TIMEOUT))
    assert running.nurse_url in log.read_text()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


# --- driving the chat as a person ------------------------------------------------


def bot_message_count(page) -> int:
    return page.locator(".rw-group-message.rw-from-response .rw-message").count()


def wait_for_bot_turn(page, before: int, timeout: float = 60) -> None:
    """Wait until the bot has said something new and then nothing more for a moment."""
    deadline = time.monotonic() + timeout
    while bot_message_count(page) <= before:
        assert time.monotonic() < deadline, "the bot did not answer"
        page.wait_for_timeout(200)
    settled, last = time.monotonic(), bot_message_count(page)
    while time.monotonic() - settled < 1.5:
        page.wait_for_timeout(250)
        now = bot_message_count(page)
        if now != last:
            settled, last = time.monotonic(), now


def last_bot_text(page) -> str:
    """The bot's latest words (without its buttons), or "" when the person spoke last."""
    groups = page.locator(".rw-group-message")
    last = groups.nth(groups.count() - 1)
    if "rw-from-response" not in (last.get_attribute("class") or ""):
        return ""
    texts = last.locator(".rw-message-text")
    return texts.nth(texts.count() - 1).inner_text() if texts.count() else ""


def type_answer(page, text: str, label: str = "Your answer") -> None:
    before = bot_message_count(page)
    box = page.get_by_label(label)
    box.fill(text)
    box.press("Enter")
    wait_for_bot_turn(page, before)


def reply_button(page, title: str):
    return page.locator(".rw-replies").last.get_by_role("button", name=title, exact=True)


def click_reply(page, title: str, keyboard: bool = False) -> None:
    """Click (or focus and press Enter on) a quick reply of the bot's last message."""
    before = bot_message_count(page)
    reply = reply_button(page, title)
    if keyboard:
        reply.focus()
        page.keyboard.press("Enter")
    else:
        reply.click()
    wait_for_bot_turn(page, before)


def click_or_type(page, title: str, text: str) -> None:
    """Click the button a person would click; type the words when the bot offers no such button."""
    if page.locator(".rw-replies").count() and reply_button(page, title).count():
        click_reply(page, title)
    else:
        type_answer(page, text)


# (the bot's question, patient or nurse wording) -> what the seed-trial patient answers
ANSWERS = [
    (r"go ahead|Proceed\?", lambda page, ecog: click_reply(page, "I agree", keyboard=True)),
    (r"How old|Patient's age", lambda page, ecog: type_answer(page, "61")),
    (r"Where in the head|Primary site", lambda page, ecog: type_answer(page, "hypopharynx")),
    (r"What stage|Stage \(AJCC|Stage at diagnosis", lambda page, ecog: type_answer(page, "stage IVA")),
    (r"day to day|ECOG performance", lambda page, ecog: click_reply(page, ecog)),
    (r"What treatment|Prior treatment", lambda page, ecog: click_or_type(page, "None yet", "none")),
    (
        r"squamous cell carcinoma\?|Histology",
        lambda page, ecog: click_or_type(page, "Yes, squamous cell carcinoma", "squamous cell carcinoma"),
    ),
    (r"removed with surgery|Resectable", lambda page, ecog: click_or_type(page, "Yes", "yes")),
    (
        r"differentiated the tumour|Differentiation",
        lambda page, ecog: click_or_type(page, "Poorly", "poorly differentiated"),
    ),
    (r"other cancer|Other malignancy", lambda page, ecog: click_or_type(page, "No", "no")),
    (r"(?i)pregnant", lambda page, ecog: click_or_type(page, "No", "no")),
    (r"woman or a man|^Sex\?", lambda page, ecog: click_or_type(page, "Male", "male")),
    (r"which city|Patient's city", lambda page, ecog: type_answer(page, "Shanghai")),
]


def answer(page, ecog_title: str) -> None:
    """Answer whatever the bot asked, as the seed-trial patient; fail on a question we did not expect."""
    question = last_bot_text(page)
    for pattern, act in ANSWERS:
        if re.search(pattern, question):
            act(page, ecog_title)
            return
    raise AssertionError(f"unexpected question: {question!r}")


def run_screening(page, ecog_title: str, max_turns: int = 20) -> None:
    before = bot_message_count(page)
    wait_for_bot_turn(page, before)  # the welcome, sent by the widget's init payload
    for _ in range(max_turns):
        if page.locator(".trial-results").count():
            return
        answer(page, ecog_title)
    raise AssertionError("no result after %d answers" % max_turns)


def engine_verdicts() -> dict[str, str]:
    """What `python -m knowledge match` says for the answers the test gives."""
    args = [sys.executable, "-m", "knowledge", "match", "--json"]
    for key, value in ANSWERS_FOR_ENGINE.items():
        args += ["--" + key.replace("_", "-"), value]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {m["nct_id"]: m["verdict"] for m in json.loads(out)["matches"]}


def card(page, nct: str):
    return page.locator(f".trial-card[data-nct='{nct}']").last


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


# --- tests ----------------------------------------------------------------------------


def test_the_expected_verdicts_are_the_engines():
    verdicts = engine_verdicts()
    for nct, verdict in EXPECTED.items():
        assert verdicts[nct] == verdict


def test_patient_page_screening_ends_in_result_cards(stack, page):
    page.goto(stack.page_url)
    assert "not medical advice" in page.locator(".disclaimer").inner_text()
    assert "session storage" in page.locator(".privacy").inner_text()
    run_screening(page, ecog_title="I can't do heavy work, but I can walk and do light work or housework")

    for nct, verdict in EXPECTED.items():
        assert card(page, nct).get_attribute("data-verdict") == verdict
    fits = card(page, "NCT06100497")
    assert fits.locator(".badge").inner_text() == "Likely fits"
    assert "Beijing Tongren Hospital" in fits.inner_text()
    assert fits.get_by_role("link").get_attribute("href") == "https://clinicaltrials.gov/study/NCT06100497"
    no_fit = card(page, "NCT07320690")
    assert no_fit.locator(".badge").inner_text() == "Does not fit"
    assert "Why it does not fit" in no_fit.inner_text()
    assert "immune checkpoint inhibitor" in no_fit.locator(".reasons-not-met").inner_text()
    assert "Likely fits (the study team still confirms)" in page.locator("#chat").inner_text()  # the text summary too
    assert re.search(r"reference is HN-[A-Z0-9-]+", page.locator("#chat").inner_text())
    # Every card the engine explains, with the engine's verdict.
    shown = {
        c.get_attribute("data-nct"): c.get_attribute("data-verdict")
        for c in page.locator(".trial-results").last.locator(".trial-card").all()
    }
    assert shown == engine_verdicts()

    # Kept in session storage only (shared computers), never local storage.
    assert page.evaluate("Object.keys(localStorage).length") == 0
    assert page.evaluate("sessionStorage.getItem('chat_session')") is not None
    assert not page.errors
    card(page, "NCT06100497").scroll_into_view_if_needed()
    screenshot(page, "patient-result.png")


def test_a_trial_listed_without_reasons_says_how_to_ask_for_them(stack, page, full_db):
    """A result with more trials than it explains (registry scale): the page builds a full card
    for the explained trials and, for the others, the verdict and how to ask for the reasons."""
    from knowledge import engine
    from tests.test_engine import IDEAL_B

    matches = [m.to_dict() for m in engine.match(IDEAL_B, db=full_db, explain=1)]
    assert [m["explained"] for m in matches][:2] == [True, False]
    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)
    cards = page.evaluate(
        """(matches) => {
      const Message = window.TrialbotRender.component({role: "patient"});
      const tree = Message({custom: {type: "trial_matches", profile: {}, matches: matches}});
      const text = (node) => node == null || typeof node === "boolean" ? "" :
        typeof node !== "object" ? String(node) : Array.isArray(node) ? node.map(text).join(" ") :
        text(node.props && node.props.children);
      const found = [];
      (function walk(node) {
        if (!node || typeof node !== "object") return;
        if (Array.isArray(node)) return node.forEach(walk);
        if (node.props && node.props["data-nct"]) found.push([node.props["data-nct"], text(node)]);
        else if (node.props) walk(node.props.children);
      })(tree);
      return found;
    }""",
        matches,
    )
    assert [nct for nct, _ in cards] == [m["nct_id"] for m in matches]
    first, second = cards[0][1], cards[1][1]
    assert "What fits" in first and "why not " + matches[0]["nct_id"] not in first
    assert f"why not {matches[1]['nct_id']}" in second and "What fits" not in second
    assert not page.errors


def test_patient_page_reads_on_a_phone(stack, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(stack.page_url)
        page.locator(".rw-replies .rw-reply").first.wait_for(timeout=60000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        box = page.locator("#chat").bounding_box()
        assert box["width"] <= 360
        screenshot(page, "patient-phone.png")
    finally:
        context.close()


def test_nurse_console_shows_profile_and_checklist(stack, page):
    page.goto(stack.nurse_url)
    run_screening(page, ecog_title="ECOG 1")

    profile = page.locator("#profile")
    assert profile.locator("[data-field='age'] dd").inner_text() == "61"
    assert profile.locator("[data-field='stage'] dd").inner_text() == "IVA"
    assert profile.locator("[data-field='ecog'] dd").inner_text() == "1"
    assert profile.locator("[data-field='prior_treatment'] dd").inner_text() == "none"

    for nct, verdict in EXPECTED.items():
        assert page.locator(f".checklist-trial[data-nct='{nct}']").get_attribute("class").endswith(verdict)
    fits = page.locator(".checklist-trial[data-nct='NCT06100497']")
    age_row = fits.locator("tr", has_text="Age:").first
    assert age_row.locator("td").nth(1).inner_text() == "61"
    assert age_row.locator(".status").inner_text() == "Met"
    no_fit = page.locator(".checklist-trial[data-nct='NCT07320690']")
    assert no_fit.get_attribute("open") is None  # trials that do not fit start folded
    no_fit.locator("summary").click()
    not_met = no_fit.locator("tr.status-not_met").first
    assert "Prior treatment" in not_met.inner_text() and not_met.locator("td").nth(1).inner_text() == "none"
    assert not_met.locator(".status").inner_text() == "Not met"
    assert no_fit.locator("tr.status-unknown .status").first.inner_text() == "Unknown"
    assert "Pre-screening record saved. Reference:" in page.locator("#chat").inner_text()
    assert page.evaluate("Object.keys(localStorage).length") == 0
    assert not page.errors
    page.locator("#profile-heading").scroll_into_view_if_needed()
    screenshot(page, "nurse-result.png")


def test_markup_typed_or_echoed_is_shown_as_text(stack, page):
    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    box = page.get_by_label("Your answer")
    box.fill(hostile)
    box.press("Enter")
    page.locator(".rw-client", has_text="<img src=x").wait_for(timeout=10000)

    # The bot echoes a slot in a response: set it to markup through the API and send it to this page.
    session_id = json.loads(page.evaluate("sessionStorage.getItem('chat_session')"))["session_id"]
    conversation = "socketio:" + session_id  # socket.io conversations have their own namespace
    status, _ = stack.api(
        "POST",
        f"/conversations/{conversation}/tracker/events",
        {"event": "slot", "name": "nct_id", "value": hostile + " [link](javascript:window.__xss=3)"},
    )
    assert status == 200
    status, _ = stack.api(
        "POST", f"/conversations/{conversation}/execute?output_channel=latest", {"name": "utter_unknown_trial"}
    )
    assert status == 200
    page.locator(".rw-response", has_text="I don't have a trial").wait_for(timeout=15000)
    page.wait_for_timeout(500)

    chat = page.locator("#chat")
    assert chat.locator("img[src='x'], script:not([src])").count() == 0
    assert chat.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("window.__xss") is None
    assert '<img src=x onerror="window.__xss=1">' in chat.inner_text()


def test_an_empty_reply_offers_a_retry(stack, page):
    """/session_start makes Rasa answer nothing at all: the channel says so and the page offers a retry."""
    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)
    before = bot_message_count(page)
    type_answer(page, "/session_start")
    assert bot_message_count(page) > before
    note = page.locator(".retry-note").last
    assert "Please try again" in note.inner_text()
    before = bot_message_count(page)
    note.get_by_role("button", name="Send it again").click()
    wait_for_bot_turn(page, before)
    assert page.locator(".rw-client", has_text="/session_start").count() == 2


def test_no_reply_in_time_offers_a_retry(stack, page):
    """Rasa frozen (SIGSTOP): after the timeout the page says so; when Rasa wakes, the reply clears it."""
    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)
    pid = stack.rasa_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        box = page.get_by_label("Your answer")
        box.fill("what do you do?")
        box.press("Enter")
        status = page.locator("#chat-status")
        status.get_by_text("No reply came back in time").wait_for(timeout=(REPLY_TIMEOUT + 10) * 1000)
        assert status.get_by_role("button", name="Send my last answer again").is_visible()
    finally:
        os.kill(pid, signal.SIGCONT)
    page.locator("#chat-status .notice").wait_for(state="detached", timeout=60000)


def test_widget_controls_are_labelled_and_reachable_by_keyboard(stack, page):
    page.goto(stack.page_url)
    page.locator(".rw-replies .rw-reply").first.wait_for(timeout=60000)
    assert page.get_by_label("Your answer").count() == 1
    assert page.get_by_role("button", name="Send").count() == 1
    assert page.get_by_role("log", name="Conversation").count() == 1
    reply = page.locator(".rw-replies").last.get_by_role("button", name="I agree", exact=True)
    assert reply.get_attribute("tabindex") == "0"
    for _ in range(40):  # Tab from the top of the page reaches the consent button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent") == "I agree":
            break
    else:
        raise AssertionError("Tab never reached the consent button")
    before = bot_message_count(page)
    page.keyboard.press("Enter")
    wait_for_bot_turn(page, before)
    assert "old" in last_bot_text(page)


# --- the socket.io channel the pages talk to (bot/server/channels.py) -------------------------
# Sessions as a python client sees them (a second client with the first one's id, reloads,
# malformed events) are in tests/test_sessions.py; here, what a browser tab does.


def polling_handshake(stack, origin: str | None) -> tuple[int, dict]:
    headers = {"Origin": origin} if origin else {}
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/socket.io/?EIO=4&transport=polling", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_socketio_accepts_only_the_pages_origin(stack):
    status, _ = polling_handshake(stack, "http://evil.example")
    assert status == 400
    status, _ = polling_handshake(stack, f"http://127.0.0.1:{stack.rasa_port}")  # right host, wrong port
    assert status == 400
    for origin in (f"http://127.0.0.1:{stack.web_port}", f"http://localhost:{stack.web_port}"):
        status, headers = polling_handshake(stack, origin)
        assert status == 200
        assert headers.get("Access-Control-Allow-Origin") == origin  # never "*"


def session_storage(page) -> dict:
    return page.evaluate("Object.fromEntries(Object.keys(sessionStorage).map(k => [k, sessionStorage.getItem(k)]))")


def conversation(stack, session_id: str) -> dict:
    status, body = stack.api("GET", f"/conversations/socketio:{session_id}/tracker")
    assert status == 200
    return json.loads(body)


def test_a_reload_carries_the_conversation_on_and_a_copy_of_the_tab_does_not(stack, browser, page):
    """The tab that started a conversation gets it back after a reload; the same session storage
    in another browser (devtools at a shared computer, a duplicated tab) gets a new conversation."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)
    click_reply(page, "I agree")
    type_answer(page, "61")
    held = json.loads(page.evaluate("sessionStorage.getItem('trialbot_session')"))
    session_id = held["session_id"]
    assert json.loads(page.evaluate("sessionStorage.getItem('chat_session')"))["session_id"] == session_id

    page.reload()
    page.locator(".rw-client", has_text="61").wait_for(timeout=30000)  # the widget shows the history
    type_answer(page, "hypopharynx")
    assert re.search(r"What stage", last_bot_text(page))
    slots = conversation(stack, session_id)["slots"]
    assert slots["age"] == 61 and slots["tumor_site"] == "hypopharynx"

    copied = session_storage(page)
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other.add_init_script(
            """((items) => {
          if (sessionStorage.getItem("test_copied") !== null) return;
          for (const [key, value] of Object.entries(items)) sessionStorage.setItem(key, value);
          sessionStorage.setItem("test_copied", "1");
        })(%s)"""
            % json.dumps(copied)
        )
        copy = other.new_page()
        copy.goto(stack.page_url)
        copy.locator("#chat-status", has_text="open in another tab").wait_for(timeout=60000)
        wait_for_bot_turn(copy, 0)
        assert "not medical advice" in copy.locator("#chat").inner_text()
        assert copy.locator(".rw-client").count() == 0  # none of the first tab's answers
        fresh = json.loads(copy.evaluate("sessionStorage.getItem('trialbot_session')"))
        assert fresh["session_id"] != session_id and fresh["resume"] != held["resume"]
        click_reply(copy, "I agree")
        type_answer(copy, "35")
        assert conversation(stack, fresh["session_id"])["slots"]["age"] == 35
    finally:
        other.close()

    before = bot_message_count(page)
    assert before and "35" not in page.locator("#chat").inner_text()  # the first tab heard none of it
    slots = conversation(stack, session_id)["slots"]
    assert slots["age"] == 61 and slots["stage"] is None
    type_answer(page, "stage IVA")
    assert conversation(stack, session_id)["slots"]["stage"] == ["IVA"]
    assert console and not [line for line in console if held["resume"] in line]  # the secret is never logged
    assert not page.errors


def test_a_tab_that_cannot_answer_is_let_go_and_then_carries_on(stack, page):
    """A tab that cannot answer session_check (frozen, or its connection gone) loses its socket
    when someone asks for its id; the asker still needs the secret, and the tab comes back."""
    from tests.test_sessions import SocketClient

    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)
    click_reply(page, "I agree")
    session_id = json.loads(page.evaluate("sessionStorage.getItem('trialbot_session')"))["session_id"]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Debugger.enable")
    cdp.send("Debugger.pause")  # the page's script stops at its next task: it cannot answer
    asker = SocketClient(stack)
    try:
        assert asker.request(session_id) == {"session_id": session_id}  # let go, but only pending
        assert asker.say("I'm 35", session_id, expect_reply=False) == []
        assert asker.confirms()[-1]["session_id"] != session_id  # no secret: a new conversation
    finally:
        asker.close()
        cdp.send("Debugger.resume")
        cdp.send("Debugger.disable")
    page.get_by_label("Your answer").wait_for()
    type_answer(page, "61")
    assert re.search(r"Where in the head", last_bot_text(page))
    status, body = stack.api("GET", f"/conversations/socketio:{session_id}/tracker")
    assert json.loads(body)["slots"]["age"] == 61
    assert not page.errors


# --- the page in Chinese ------------------------------------------------------------------------------

# (the bot's Chinese question) -> what the seed-trial patient answers, in Chinese
ANSWERS_ZH = [
    (r"可以开始吗", lambda page: click_reply(page, "我同意")),
    (r"多大年纪", lambda page: type_answer(page, "六十一", label="您的回答")),
    (r"最开始长在", lambda page: type_answer(page, "下咽", label="您的回答")),
    (r"是几期", lambda page: type_answer(page, "4a期", label="您的回答")),
    (r"平时的状态", lambda page: click_reply(page, "重活干不了，但能走动，能做轻活或家务")),
    (r"做过哪些治疗", lambda page: click_reply(page, "还没有治疗")),
    (r"鳞状细胞癌（鳞癌）吗", lambda page: click_reply(page, "是，鳞状细胞癌")),
    (r"手术切除", lambda page: click_reply(page, "是")),
    (r"分化程度", lambda page: click_reply(page, "低分化")),
    (r"其他癌症", lambda page: click_reply(page, "否")),
    (r"女性还是男性", lambda page: click_reply(page, "男")),
    (r"怀孕", lambda page: click_reply(page, "否")),
    (r"住在哪里", lambda page: type_answer(page, "上海", label="您的回答")),
]


def test_the_page_switched_to_chinese_screens_in_chinese_and_shows_chinese_cards(stack, page):
    page.goto(stack.page_url)
    page.get_by_role("button", name="中文").click()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "有适合您的临床试验吗？"
    assert "这不是医疗建议" in page.locator(".disclaimer").inner_text()
    # A new conversation in Chinese: the language stays with the tab, the widget starts over.
    page.get_by_role("button", name="清除这次对话").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="中文").get_attribute("aria-pressed") == "true"
    before = bot_message_count(page)
    wait_for_bot_turn(page, before)  # the welcome, in Chinese
    assert "预筛查助手" in page.locator("#chat").inner_text()
    for _ in range(20):
        if page.locator(".trial-results").count():
            break
        question = last_bot_text(page)
        act = next((act for pattern, act in ANSWERS_ZH if re.search(pattern, question)), None)
        assert act is not None, f"unexpected question: {question!r}"
        act(page)
    assert page.locator(".trial-results").count(), "no result"

    for nct, verdict in EXPECTED.items():
        assert card(page, nct).get_attribute("data-verdict") == verdict
    fits = card(page, "NCT06100497")
    assert fits.locator(".badge").inner_text() == "可能符合"
    title = fits.locator(".trial-title").inner_text()
    assert (
        "局部晚期" in title and "译文" in title and "Poorly Differentiated" in title
    )  # the English beside the translation
    no_fit = card(page, "NCT07320690")
    assert no_fit.locator(".badge").inner_text() == "不符合"
    reasons = no_fit.locator(".reasons-not-met").inner_text()
    assert "免疫检查点抑制剂" in reasons and "译文" in reasons and "immune checkpoint inhibitor" in reasons
    chat = page.locator("#chat").inner_text()
    assert "可能符合（仍需研究团队确认）" in chat and "这只是预筛查" in chat
    assert re.search(r"预筛查编号是HN-[A-Z0-9-]+", chat)
    assert not page.errors
    card(page, "NCT07320690").scroll_into_view_if_needed()
    screenshot(page, "patient-result-zh.png")


def test_a_first_message_in_chinese_switches_the_page_to_chinese(stack, page):
    page.goto(stack.page_url)
    wait_for_bot_turn(page, 0)  # the English welcome
    assert page.evaluate("document.documentElement.lang") == "en"
    type_answer(page, "你好，我想帮我爸查一下临床试验")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "有适合您的临床试验吗？"
    assert re.search(r"他的癌症|关于他", last_bot_text(page) or page.locator("#chat").inner_text())
    assert not page.errors
