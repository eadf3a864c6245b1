"""Who the demo's actions notify, checked with livebell's test helper (docs/testing.md).

``livebell_fake`` is the fixture of ``livebell.testing``, which installing livebell
registers with pytest; ``fake()`` is the same as a context manager.
"""

import pytest
from django.contrib.auth import get_user_model

from demo import actions
from livebell.testing import fake

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    users = get_user_model().objects
    return [users.create_user(name, password="pw") for name in ("alice", "bob", "carol")]


def test_an_answer_notifies_the_asker_and_the_questions_followers(people, livebell_fake):
    alice, bob, carol = people
    question = actions.ask(bob, "Why is the sky blue?")
    actions.follow_question(carol, question)
    livebell_fake.assert_notified(bob, type="question.followed", count=1)

    actions.answer(alice, question, "Rayleigh scattering.")

    livebell_fake.assert_notified(bob, type="answer.created", count=1)
    livebell_fake.assert_notified(carol, type="answer.created_followed", count=1)
    livebell_fake.assert_not_notified(alice)
    assert len(livebell_fake.pushes) == 3  # held back: no channel layer needed


def test_acting_on_your_own_things_notifies_nobody(people):
    alice, _, _ = people
    with fake() as sent:
        question = actions.ask(alice, "Talking to myself?")
        answer = actions.answer(alice, question, "Yes.")
        actions.upvote(alice, answer)
    sent.assert_nothing_sent()
