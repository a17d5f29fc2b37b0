"""Notifications that reach a closed tab, in Debian's chromium (issue 16, need 4): the
region page registers the service worker, subscribes this browser with the server's
VAPID key, and the opt-in persists; the server's push, decrypted as the browser would,
is handed to the real service worker, which shows it. Both stores.

Headless chromium has no push service to subscribe through (PushManager.subscribe fails
or waits forever without Google's servers): the test stands in for that one call. Its
init script replaces PushManager.subscribe/getSubscription with a subscription whose
endpoint is a local push-service stand-in and whose keys the test made, as a browser
would. Everything else is the real thing: the page's code, the service worker, the
server's encryption and VAPID, and the notification the worker shows (the decrypted
message is delivered to it through the DevTools protocol, as a push service would).

The chromium as it is (its push service refuses, or a stand-in that never answers) is
tested too: the bells then notify while the page is open, and say so."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, CDPSession, Page, expect

from tests.support.push import BrowserKeys, PushReceiver
from tests.support.server import ServerProcess, timeout
from tests.web.browser import NOTIFICATION_SPY, declare, live, make_token, new_page
from tryvoha import i18n

pytestmark = pytest.mark.browser

SUMY = "UA59000000000057109"
SHOSTKA = "UA59100170000093676"
NAME = "Шосткинська територіальна громада"  # SHOSTKA's name in Ukrainian

STUB = """
(() => {
  const stub = %s;
  const state = () => JSON.parse(localStorage.getItem("stub.push") || "{}");
  const sub = {
    endpoint: stub.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true },
    toJSON: () => ({ endpoint: stub.endpoint, expirationTime: null, keys: stub.keys }),
    unsubscribe: async () => {
      localStorage.setItem("stub.push", JSON.stringify({ ...state(), subscribed: false, unsubscribed: true }));
      return true;
    },
  };
  PushManager.prototype.subscribe = async function (options) {
    const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    localStorage.setItem("stub.push", JSON.stringify({ subscribed: true, key, userVisibleOnly: options.userVisibleOnly }));
    return sub;
  };
  PushManager.prototype.getSubscription = async function () {
    return state().subscribed ? sub : null;
  };
})();
"""


def push_page(browser: Browser, url: str, keys: BrowserKeys, endpoint: str) -> Page:
    page = new_page(browser)
    page.context.grant_permissions(["notifications"], origin=url)
    stub = {"endpoint": endpoint, "keys": keys.subscription(endpoint)["keys"]}
    page.context.add_init_script(STUB % json.dumps(stub))
    return page


def stub_state(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        "() => JSON.parse(localStorage.getItem('stub.push') || '{}')"
    )
    return found


def registration_id(page: Page, cdp: CDPSession) -> str:
    found: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: found.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout(10)
    while not [r for r in found if not r["isDeleted"]]:
        assert time.monotonic() < deadline, "no service worker registration"
        page.wait_for_timeout(50)  # Playwright hands events over while it waits
    return str([r for r in found if not r["isDeleted"]][-1]["registrationId"])


def notifications(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await (await navigator.serviceWorker.ready).getNotifications())
            .map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))"""
    )
    return found


def test_a_region_page_subscribes_and_the_service_worker_shows_what_is_pushed(
    browser: Browser, push_server: ServerProcess, push_receiver: PushReceiver
) -> None:
    url = push_server.url
    keys = BrowserKeys()
    page = push_page(browser, url, keys, push_receiver.url("chromium"))
    page.goto(f"{url}/region/{SHOSTKA}")
    live(page)
    uk = i18n.catalogue("uk")
    bell = page.locator("#notify")
    expect(bell).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#notify-note")).to_have_text(uk("push.notify_closed"))
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "true")
    expect(bell).to_have_text(uk("region.notify_on"))
    # the service worker, at /sw.js, with every page in its scope
    scope, script = page.evaluate(
        "async () => { const r = await navigator.serviceWorker.ready; return [r.scope, r.active.scriptURL]; }"
    )
    assert (scope, script) == (f"{url}/", f"{url}/sw.js")
    server_key = httpx.get(f"{url}/api/v1/push/key").json()["public_key"]
    assert stub_state(page)["key"] == server_key and stub_state(page)["userVisibleOnly"]

    # an alert over the hromada: the server pushes it, encrypted to this browser's keys
    token = make_token(push_server.store_url, "national", ["UA"])
    declare(url, token, SUMY, threats=["drones"], message={"uk": "До укриття!", "en": "Shelter!"})
    message = push_receiver.wait("chromium", 1)[0]
    notice = keys.decrypt(message.body)
    assert notice["title"] == "Тривога: Сумська область"
    assert notice["body"].split("\n") == [
        uk("threat.air_raid"),
        uk("kind.drones"),
        "До укриття!",
        uk("advice.air_raid"),
    ]
    # handed to the real service worker, as the push service would: it shows it
    cdp = page.context.new_cdp_session(page)
    push = {"origin": url, "registrationId": registration_id(page, cdp), "data": json.dumps(notice)}
    cdp.send("ServiceWorker.deliverPushMessage", push)
    page.wait_for_function(
        "async () => (await (await navigator.serviceWorker.ready).getNotifications()).length > 0"
    )
    [shown] = notifications(page)
    assert (shown["title"], shown["body"], shown["tag"]) == (
        notice["title"],
        notice["body"],
        notice["tag"],
    )
    assert shown["data"]["url"] == f"/region/{SUMY}" and shown["data"]["seq"] == notice["seq"]
    # the same event again (a repeat after a crash): recognised by its seq, not shown again
    repeat = {**notice, "body": "a repeat"}
    cdp.send("ServiceWorker.deliverPushMessage", {**push, "data": json.dumps(repeat)})
    page.wait_for_timeout(300)
    assert [n["body"] for n in notifications(page)] == [notice["body"]]
    # the all-clear replaces the alert's notification (the same tag: the alert's id)
    alert_id = notice["alert_id"]
    cleared = httpx.post(
        f"{url}/api/v1/alerts/{alert_id}/clear", headers={"Authorization": f"Bearer {token}"}
    )
    assert cleared.is_success, cleared.text
    all_clear = keys.decrypt(push_receiver.wait("chromium", 2)[1].body)
    cdp.send("ServiceWorker.deliverPushMessage", {**push, "data": json.dumps(all_clear)})
    page.wait_for_function(
        """async () => (await (await navigator.serviceWorker.ready).getNotifications())
            .some((n) => n.title.startsWith("Відбій"))"""
    )
    assert [(n["title"], n["body"]) for n in notifications(page)] == [
        ("Відбій: Сумська область", "Повітряна тривога: відбій.")
    ]

    # the opt-in persists: a reload, and the map page's "my place" card for this hromada
    page.reload()
    live(page)
    expect(page.locator("#notify")).to_have_attribute("aria-pressed", "true")
    page.evaluate(f"() => localStorage.setItem('tryvoha.myplace', '{SHOSTKA}')")
    page.goto(url)
    live(page)
    card_bell = page.locator("#myplace .myplace-notify")
    expect(card_bell).to_have_attribute("aria-pressed", "true")
    assert not page.errors  # type: ignore[attr-defined]

    # turned off from the card: the browser is unsubscribed and the server forgets it
    card_bell.click()
    expect(card_bell).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(
        "() => JSON.parse(localStorage.getItem('stub.push')).unsubscribed === true"
    )
    gone = httpx.request(
        "DELETE",
        f"{url}/api/v1/push/subscriptions",
        json={"endpoint": push_receiver.url("chromium")},
    )
    assert gone.status_code == 404  # already forgotten
    page.goto(f"{url}/region/{SHOSTKA}")
    live(page)
    expect(page.locator("#notify")).to_have_attribute("aria-pressed", "false")
    page.context.close()


def test_the_service_worker_is_served_for_the_whole_site_under_the_pages_policy(
    push_server: ServerProcess,
) -> None:
    answer = httpx.get(f"{push_server.url}/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/"
    assert answer.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    assert 'addEventListener("push"' in answer.text


# A push service that never answers (a browser that cannot reach its own): subscribe waits
# forever. Counts its calls.
SILENT_PUSH = """
PushManager.prototype.subscribe = function () {
  localStorage.setItem("stub.calls", String(Number(localStorage.getItem("stub.calls") || 0) + 1));
  return new Promise(() => {});
};
PushManager.prototype.getSubscription = async function () { return null; };
"""


def no_push_page(browser: Browser, url: str, script: str | None = None) -> Page:
    """A page in Debian's chromium as it is (its push service refuses every subscription),
    or with `script` in place of the push service; notifications allowed and spied on."""
    page = new_page(browser)
    page.context.grant_permissions(["notifications"], origin=url)
    page.context.add_init_script(NOTIFICATION_SPY)
    if script:
        page.context.add_init_script(script)
    return page


def test_a_browser_without_a_push_service_notifies_while_the_page_is_open(
    browser: Browser, push_server: ServerProcess
) -> None:
    """Debian's chromium has no push service (PushManager.subscribe is refused): the bell
    falls back to notifications while the page is open, says so, and they come."""
    url = push_server.url
    uk = i18n.catalogue("uk")
    page = no_push_page(browser, url)
    page.goto(f"{url}/region/{SHOSTKA}")
    live(page)
    bell, note = page.locator("#notify"), page.locator("#notify-note")
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "true")
    expect(bell).to_have_text(uk("region.notify_on"))
    expect(note).to_have_text(uk("push.unsupported"))
    assert page.evaluate("() => localStorage.getItem('tryvoha.push')") is None  # no opt-in kept

    token = make_token(push_server.store_url, "national", ["UA"])
    [alert] = declare(url, token, SUMY, threats=["drones"])["alerts"]
    expect(page.locator("#region-state")).to_have_attribute("data-state", "alert")
    page.wait_for_function("() => window.shown.length === 1")  # a function: CSP forbids eval
    assert page.evaluate("window.shown[0]") == uk("region.notify_title_alert", name=NAME)

    # turned off: the note still says what this browser can do; the all-clear is not shown
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "false")
    expect(note).to_have_text(uk("push.unsupported"))
    cleared = httpx.post(
        f"{url}/api/v1/alerts/{alert['id']}/clear", headers={"Authorization": f"Bearer {token}"}
    )
    assert cleared.is_success, cleared.text
    expect(page.locator("#region-state")).to_have_attribute("data-state", "clear")
    assert page.evaluate("window.shown.length") == 1
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_a_push_service_that_never_answers_is_given_up_on_and_not_asked_again(
    browser: Browser, push_server: ServerProcess
) -> None:
    """subscribe() that never settles: after 15 s (the page's clock, run forward here) the
    bell falls back as above; turned off and on again, the page does not wait again."""
    url = push_server.url
    uk = i18n.catalogue("uk")
    page = no_push_page(browser, url, SILENT_PUSH)
    page.clock.install()
    page.goto(f"{url}/region/{SHOSTKA}")
    live(page)
    bell, note = page.locator("#notify"), page.locator("#notify-note")
    bell.click()
    page.wait_for_function("() => localStorage.getItem('stub.calls') === '1'")
    expect(bell).to_be_disabled()  # waiting for the push service
    page.clock.run_for(16_000)
    expect(bell).to_have_attribute("aria-pressed", "true")
    expect(note).to_have_text(uk("push.unsupported"))
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "false")
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "true")  # at once, without the clock
    assert page.evaluate("() => localStorage.getItem('stub.calls')") == "1"
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_my_place_card_falls_back_too(browser: Browser, push_server: ServerProcess) -> None:
    """The map page's card for my place, in a browser without a push service: its bell
    notifies while the page is open, by the region page's rule."""
    url = push_server.url
    uk = i18n.catalogue("uk")
    page = no_push_page(browser, url)
    page.add_init_script(f"localStorage.setItem('tryvoha.myplace', '{SHOSTKA}')")
    page.goto(url)
    live(page)
    card_bell = page.locator("#myplace .myplace-notify")
    card_bell.click()
    expect(card_bell).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#myplace .myplace-note")).to_have_text(uk("push.unsupported"))

    token = make_token(push_server.store_url, "national", ["UA"])
    declare(url, token, SUMY, threats=["drones"])
    expect(page.locator("#myplace")).to_have_attribute("data-state", "alert")
    page.wait_for_function("() => window.shown.length === 1")
    assert page.evaluate("window.shown[0]") == uk("region.notify_title_alert", name=NAME)
    # the card is drawn anew on every change: the bell and its note stay as they were
    expect(card_bell).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#myplace .myplace-note")).to_have_text(uk("push.unsupported"))
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_a_refusal_by_the_server_is_not_taken_for_a_missing_push_service(
    browser: Browser, push_server: ServerProcess
) -> None:
    """The browser subscribed, the server refused the subscription (here: an ftp endpoint):
    the bell says why and stays off; it does not fall back to notifying while open."""
    url = push_server.url
    uk = i18n.catalogue("uk")
    page = push_page(browser, url, BrowserKeys(), "ftp://push.example.org/x")
    page.goto(f"{url}/region/{SHOSTKA}")
    live(page)
    page.click("#notify")
    note = page.locator("#notify-note")
    expect(note).to_contain_text(uk("push.failed", reason="").strip())
    expect(note).to_contain_text("'ftp'")
    expect(page.locator("#notify")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("() => localStorage.getItem('tryvoha.push')") is None
    page.context.close()
