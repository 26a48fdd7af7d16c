"""Rules that need no index: who may do what, names and settings checked, questions checked,
log values quoted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qa_bot.chain import check_question, check_top_k
from qa_bot.config import MAX_TOP_K, Settings, check_env_names
from qa_bot.errors import BadQuestionError, ForbiddenError, SettingsError, UnknownNameError
from qa_bot.metrics import _logfmt
from qa_bot.registry import ANSWERERS, EMBEDDINGS
from qa_bot.server.access import Principal, check_answerer, needed_role
from tests.unit.fakes import HASHED

READER = Principal("alice", "reader", "key")
ADMIN = Principal("boss", "admin", "key")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/healthz", None),
        ("POST", "/api/ask", "reader"),
        ("GET", "/api/documents", "reader"),
        ("POST", "/api/documents", "admin"),
        ("GET", "/api/feedback", "admin"),
        ("POST", "/api/feedback", "reader"),
        ("GET", "/metrics", "admin"),
        ("POST", "/api/knowledge/resync", "admin"),
        ("POST", "/gradio_api/upload", "admin"),
        ("GET", "/api/questions", "admin"),
        ("POST", "/api/questions/export", "admin"),
    ],
)
def test_each_route_needs_its_role(method: str, path: str, role: str | None) -> None:
    assert needed_role(method, path) == role


def test_only_admins_choose_another_answerer() -> None:
    for who in (None, READER, ADMIN):
        check_answerer(who, None, "extractive")
        check_answerer(who, "extractive", "extractive")
    check_answerer(ADMIN, "openai", "extractive")
    for who in (None, READER):
        with pytest.raises(ForbiddenError, match="Only an admin may choose the answerer"):
            check_answerer(who, "openai", "extractive")


def test_unknown_names_are_user_errors_and_setting_errors() -> None:
    with pytest.raises(UnknownNameError, match="Unknown answerer 'magic': use one of extractive"):
        ANSWERERS.check("magic")
    with pytest.raises(ValidationError, match="Unknown embedding model 'nowhere'"):
        Settings().updated(store={"embedding_model": "nowhere"})
    assert EMBEDDINGS.check(HASHED) == HASHED  # registered like a plugin
    with pytest.raises(SettingsError, match="Unknown setting QA_BOT_RETRIEVAL__TOPK"):
        check_env_names({"QA_BOT_RETRIEVAL__TOPK": "3"})
    with pytest.raises(SettingsError, match="Unknown settings section 'retrieve'"):
        Settings().updated(retrieve={"top_k": 3})


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("   ", "The question is empty"),
        ("?!…", "The question has no words"),
        ("\x00\x07", "The question is empty"),
        ("why " * 600, "The question is too long (2399 characters; the limit is 2000)"),
    ],
)
def test_bad_questions_are_refused_with_one_sentence(question: str, message: str) -> None:
    with pytest.raises(BadQuestionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_question(question, 2000)


def test_questions_lose_control_characters_only() -> None:
    assert check_question("  What did\x00 TSMC\tdecide?\n", 2000) == "What did TSMC\tdecide?"


def test_top_k_is_bounded() -> None:
    assert check_top_k(None, 5) == 5 and check_top_k(MAX_TOP_K, 5) == MAX_TOP_K
    for wrong in (0, -1, MAX_TOP_K + 1):
        with pytest.raises(BadQuestionError, match=f"top_k must be between 1 and {MAX_TOP_K}"):
            check_top_k(wrong, 5)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("extractive", "extractive"),
        (0.842, "0.842"),
        ("a b", '"a b"'),
        ("x\nquestion id=forged", '"x\\nquestion id=forged"'),
        ("é", '"\\u00e9"'),
    ],
)
def test_log_values_cannot_forge_a_line(value: object, written: str) -> None:
    assert _logfmt(value) == written
