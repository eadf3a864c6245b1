"""The widget's server side: ``…/<id>/go/`` (no open redirect, no cross-site state
change), the template tags, the JS build, the catalogs and the CLI's warning."""

from __future__ import annotations

import gettext
import io
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import polib
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, RequestFactory, override_settings
from django.utils import translation

from livebell import avatars, inbox, notify
from livebell.models import Notification
from tests.conftest import service_missing, session_cookie
from tests.testapp.models import Post

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db

SAME_ORIGIN = {"HTTP_SEC_FETCH_SITE": "same-origin"}


def go_url(pk: object) -> str:
    return f"/api/notifications/{pk}/go/"


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob")


@pytest.fixture
def bob_client(bob: Any) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def notification_to(user: Any, url: str | None = None) -> Notification:
    post = Post.objects.create(title="My first post")
    [row] = notify(user, "liked your post", target=post)
    if url is not None:
        # Stored URLs come from the target's get_absolute_url(): anything a site lets in.
        Notification.objects.filter(pk=row.pk).update(target_url=url)
    return row


def is_unread(row: Notification) -> bool:
    row.refresh_from_db()
    return row.read_at is None


# --- go/ -----------------------------------------------------------------------------


def test_go_marks_read_and_redirects_to_the_target(bob: Any, bob_client: Client) -> None:
    row = notification_to(bob)
    response = bob_client.get(go_url(row.pk), **SAME_ORIGIN)
    assert response.status_code == 302
    assert response["Location"] == f"/posts/{row.target_object_id}/"
    assert response["Cache-Control"] == "no-store"
    assert not is_unread(row)
    assert inbox.unread_count(bob) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "none"},  # typed, or a bookmark: the user's own act
        {"HTTP_ORIGIN": "http://testserver"},
        {"HTTP_REFERER": "http://testserver/questions/1/"},
    ],
)
def test_same_site_requests_without_sec_fetch_site_mark_read(
    bob: Any, bob_client: Client, headers: dict[str, str]
) -> None:
    row = notification_to(bob)
    assert bob_client.get(go_url(row.pk), **headers).status_code == 302
    assert not is_unread(row)


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},  # a sibling subdomain is another origin
        {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_REFERER": "http://testserver/"},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_REFERER": "https://evil.example/page"},
        {"HTTP_REFERER": "http://testserver.evil.example/"},
        {},  # nothing says where it came from
    ],
)
def test_a_cross_site_get_changes_nothing_but_still_redirects(
    bob: Any, bob_client: Client, headers: dict[str, str]
) -> None:
    row = notification_to(bob)
    response = bob_client.get(go_url(row.pk), **headers)
    assert response.status_code == 302
    assert response["Location"] == f"/posts/{row.target_object_id}/"
    assert is_unread(row)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "http://testserver.evil.example/",
        "ftp://testserver/file",
        " https://evil.example/",
        "",
    ],
)
def test_go_never_redirects_off_site(bob: Any, bob_client: Client, url: str) -> None:
    row = notification_to(bob, url=url)
    response = bob_client.get(go_url(row.pk), **SAME_ORIGIN)
    assert response.status_code == 302
    assert response["Location"] == "/notifications/"  # the fallback: the full page
    assert not is_unread(row)


@pytest.mark.parametrize(
    "url", ["/questions/1/#answer-2", "http://testserver/questions/1/", "?tab=all"]
)
def test_go_follows_same_site_urls(bob: Any, bob_client: Client, url: str) -> None:
    row = notification_to(bob, url=url)
    response = bob_client.get(go_url(row.pk), **SAME_ORIGIN)
    assert response["Location"] == url


def test_an_https_site_does_not_redirect_to_http(bob: Any, bob_client: Client) -> None:
    row = notification_to(bob, url="http://testserver/questions/1/")
    response = bob_client.get(go_url(row.pk), secure=True, **SAME_ORIGIN)
    assert response["Location"] == "/notifications/"


def test_go_without_the_page_mounted_falls_back_to_the_root(bob: Any, bob_client: Client) -> None:
    row = notification_to(bob, url="https://evil.example/")
    with override_settings(ROOT_URLCONF="tests.urls_without_page"):
        response = bob_client.get(go_url(row.pk), **SAME_ORIGIN)
    assert response["Location"] == "/"


def test_go_to_another_users_or_a_missing_or_bad_id_is_404(
    bob: Any, bob_client: Client, make_user: Any
) -> None:
    carols = notification_to(make_user("carol"))
    for pk in (carols.pk, carols.pk + 1000, "abc", 0, "9" * 30):
        assert bob_client.get(go_url(pk), **SAME_ORIGIN).status_code == 404
    assert is_unread(carols)


def test_go_asks_anonymous_users_to_log_in_and_refuses_post(bob: Any, bob_client: Client) -> None:
    row = notification_to(bob)
    response = Client().get(go_url(row.pk), **SAME_ORIGIN)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert bob_client.post(go_url(row.pk), **SAME_ORIGIN).status_code == 405
    assert is_unread(row)


def test_an_already_read_notification_sends_no_event(
    bob: Any, bob_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = notification_to(bob)
    inbox.mark_read(bob, [row.pk])
    calls: list[Any] = []
    monkeypatch.setattr(inbox, "mark_read", lambda *args: calls.append(args))
    assert bob_client.get(go_url(row.pk), **SAME_ORIGIN).status_code == 302
    assert calls == []


@pytest.mark.django_db(transaction=True)
async def test_go_against_a_real_server_cross_site_and_same_origin(
    live_server_url: str, amake_user: Any
) -> None:
    """A real uvicorn, a real HTTP request with the headers a browser would send."""
    bob = await amake_user("bob")
    row = await sync_to_async(notification_to)(bob, "https://evil.example/steal")
    cookie = await sync_to_async(session_cookie)(bob)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def get(fetch_site: str) -> tuple[int, str]:
        request = urllib.request.Request(
            live_server_url + go_url(row.pk),
            headers={"Cookie": cookie, "Sec-Fetch-Site": fetch_site},
        )
        try:
            opener.open(request, timeout=5)
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers["Location"]
        raise AssertionError("no redirect")

    assert await sync_to_async(get)("cross-site") == (302, "/notifications/")
    assert await sync_to_async(is_unread)(row)
    assert await sync_to_async(get)("same-origin") == (302, "/notifications/")
    assert not await sync_to_async(is_unread)(row)


# --- The template tags ----------------------------------------------------------------


def render(template: str, user: Any | None) -> str:
    request = RequestFactory().get("/")
    if user is None:
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
    else:
        request.user = user
    return Template("{% load livebell %}" + template).render(Context({"request": request}))


def test_the_bell_renders_nothing_for_anonymous_users() -> None:
    assert render("{% livebell_bell %}", None).strip() == ""
    assert render("{% livebell_inbox %}", None).strip() == ""


def test_the_bell_shows_the_count_and_a_label_in_the_readers_language(bob: Any) -> None:
    html = render("{% livebell_bell %}", bob)
    assert 'aria-label="Notifications, none unread"' in html
    assert 'class="lb-badge" aria-hidden="true" hidden>0<' in html
    for _ in range(3):
        notification_to(bob)
    html = render("{% livebell_bell %}", bob)
    assert 'aria-label="3 unread notifications"' in html
    assert 'data-unread="3"' in html
    assert f'data-last-id="{Notification.objects.latest("pk").pk}"' in html
    assert 'data-api="/api/notifications/"' in html
    assert 'href="/notifications/"' in html  # "View all", since the page is mounted
    assert 'src="/api/notifications/jsi18n/"' in html
    assert 'type="module" src="/static/livebell/bell.module.js"' in html
    with translation.override("zh-hans"):
        html = render("{% livebell_bell %}", bob)
    assert 'aria-label="3 条未读通知"' in html
    assert "全部标为已读" in html


def test_the_badge_says_99_plus_past_99(bob: Any) -> None:
    notify(bob, "a")
    from livebell.models import InboxState

    InboxState.objects.filter(user=bob).update(unread_count=100)
    html = render("{% livebell_bell %}", bob)
    assert ">99+</span>" in html
    assert 'aria-label="100 unread notifications"' in html


def test_the_full_page_needs_a_login_and_shows_the_list(bob: Any, bob_client: Client) -> None:
    assert Client().get("/notifications/").status_code == 302
    response = bob_client.get("/notifications/")
    assert response.status_code == 200
    assert b'data-livebell="page"' in response.content
    assert b"<title>Notifications</title>" in response.content


def test_the_avatar_tag_draws_a_user_as_the_bell_does(bob: Any) -> None:
    html = render('{% livebell_avatar request.user "avatar big" %}', bob)
    assert html == (
        f'<span class="lb-avatar avatar big" style="--lb-avatar-hue: {avatars.hue("bob")}"'
        ' aria-hidden="true">BO</span>'
    )
    assert ">张<" in render('{% livebell_avatar "张三" %}', None)
    assert ">&lt;S<" in render('{% livebell_avatar "<script>" %}', None)  # escaped


AVATAR_NAMES = ["bob", "alice", "carol", "  dave ", "", "x", "张三", "ä", "émile", "😀 smile",
                "o'brien", "a" * 40]  # fmt: skip


def test_the_avatar_rule_is_the_same_in_python_and_in_the_bell() -> None:
    """bell.module.js draws the bell's avatars, livebell.avatars the site's: the same
    initials and hue for every name (the JS functions run in Node)."""
    node = shutil.which("node")
    if node is None:
        service_missing("Node.js")
    source = (ROOT / "src/livebell/static/livebell/bell.module.js").read_text(encoding="utf-8")
    functions = [
        re.search(rf"^function {name}\(name\) {{\n.*?^}}\n", source, re.M | re.S)
        for name in ("initials", "hue")
    ]
    assert all(functions), "initials() and hue() are no longer in bell.module.js"
    script = "".join(m.group(0) for m in functions if m) + (
        "const names = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify(names.map((n) => [initials(n), hue(n)])));"
    )
    done = subprocess.run(
        [node, "-e", script, json.dumps(AVATAR_NAMES)], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [
        [avatars.initials(name), avatars.hue(name)] for name in AVATAR_NAMES
    ]


def test_the_js_catalog_is_served_in_the_requests_language(bob_client: Client) -> None:
    response = bob_client.get("/api/notifications/jsi18n/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    with translation.override("zh-hans"):
        body = bob_client.get("/api/notifications/jsi18n/").content.decode()
    assert "django.catalog" in body


# --- The JS client's two builds ---------------------------------------------------------


def test_the_classic_script_is_the_module_built() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", ROOT / "scripts/build_classic_js.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    expected = build.build(build.MODULE.read_text(encoding="utf-8"))
    assert build.CLASSIC.read_text(encoding="utf-8") == expected, (
        "livebell.js is out of date: run `make js`."
    )
    assert (
        "window.livebell = Object.freeze({ CLOSE_CODES, STATES, LiveBellError, LiveBell, connect })"
        in expected
    )
    assert "export " not in expected.replace("exports", "")


# --- The catalogs ---------------------------------------------------------------------

CATALOGS = sorted(
    [
        *ROOT.glob("src/livebell/locale/*/LC_MESSAGES/*.po"),
        *ROOT.glob("demo/demo/locale/*/LC_MESSAGES/*.po"),
        *ROOT.glob("compat/notifications-hq/src/notifications/locale/*/LC_MESSAGES/*.po"),
    ]
)


def test_every_language_has_every_catalog() -> None:
    names = {(p.parts[-3], p.name) for p in CATALOGS}
    for language in ("en", "zh_Hans"):
        assert (language, "django.po") in names
        assert (language, "djangojs.po") in names


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_catalog_is_complete_and_compiled(path: Path) -> None:
    po = polib.pofile(str(path))
    assert po.untranslated_entries() == [], "untranslated: " + ", ".join(
        e.msgid for e in po.untranslated_entries()
    )
    assert po.fuzzy_entries() == [], "fuzzy: " + ", ".join(e.msgid for e in po.fuzzy_entries())
    mo_path = path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path.name} is missing: run `make messages`"
    with mo_path.open("rb") as mo_file:
        compiled = gettext.GNUTranslations(mo_file)._catalog  # type: ignore[attr-defined]
    expected: dict[Any, str] = {}
    for entry in po.translated_entries():
        key = entry.msgid if not entry.msgctxt else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural:
            for index, text in entry.msgstr_plural.items():
                expected[(key, int(index))] = text
        else:
            expected[key] = entry.msgstr
    compiled.pop("", None)
    assert compiled == expected, f"{mo_path.name} is out of date with its .po: run `make messages`"


def test_the_fuzzy_and_untranslated_checks_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.po"
    bad.write_text(
        'msgid ""\nmsgstr ""\n\n#, fuzzy\nmsgid "a"\nmsgstr "b"\n\nmsgid "c"\nmsgstr ""\n'
    )
    po = polib.pofile(str(bad))
    assert [e.msgid for e in po.fuzzy_entries()] == ["a"]
    assert [e.msgid for e in po.untranslated_entries()] == ["c"]


# --- livebell_notify on the in-memory layer ----------------------------------------------


def test_the_cli_warns_that_running_servers_will_not_see_an_in_memory_push(bob: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    with translation.override("en"):
        call_command("livebell_notify", "--to", "bob", "--verb", "hi", stdout=out, stderr=err)
    assert "Sent 1 notification(s)." in out.getvalue()
    assert "running servers will not see this push" in err.getvalue()


def test_the_cli_does_not_warn_on_a_shared_layer(bob: Any, settings: Any) -> None:
    from tests.conftest import redis_layers

    settings.CHANNEL_LAYERS = {"default": redis_layers()["redis_pubsub"]}
    err = io.StringIO()
    call_command("livebell_notify", "--to", "bob", "--verb", "hi", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
