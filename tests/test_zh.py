"""Chinese: the vocabulary, the normalisers, the NLU component and the dialogue read and
speak Simplified Chinese, as patients and relatives type it on their phones (口语, Chinese
numerals, brand names, "K药打了三次", "我爸喉癌晚期", "肿瘤缩小了一半")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions import messages
from actions.converse import ActionConverse
from actions.forms import ValidatePrescreeningForm
from actions.results import ActionMatchTrials
from actions.say import variant
from bot.nlu import components
from knowledge import geo, normalize, speaker, therapy, vocab
from tests.test_actions import CONSENTED, DOMAIN, IDEAL_B, run, slot_events, tracker

ROOT = Path(__file__).resolve().parents[1]


# --- one place reads Chinese: prepared text ---------------------------------------------------


@pytest.mark.parametrize(
    "text, prepared",
    [
        ("我今年六十二岁了", "我 今 年 62 岁 了"),
        ("打了三个周期", "打 了 3 个 周 期"),
        ("三四个周期", "3-4 个 周 期"),
        ("Ｔ３Ｎ１Ｍ０，ＥＣＯＧ１分", "T3N1M0,ECOG1 分"),
        ("ⅣA期", "IVA 期"),
        ("第二次", "第 2 次"),
        ("跟以前一样", "跟 以 前 一 样"),  # 一样 is no number
        ("缩小了一半", "缩 小 了 一 半"),
        ("十分累", "十 分 累"),  # 十分 is "very"
        ("上一个问题", "上 一 个 问 题"),  # which one, not how many
        ("I'm 58, stage 4a", "I'm 58, stage 4a"),  # English is left as it is
    ],
)
def test_prepare_reads_chinese_numerals_and_makes_each_character_a_word(text, prepared):
    assert vocab.prepare(text) == prepared


def test_find_terms_finds_chinese_words_inside_a_sentence_with_offsets_as_typed():
    text = "我爸是喉癌晚期，在广州"
    found = list(vocab.find_terms(text, vocab.site_terms()))
    assert [(text[s:e], code) for s, e, _, code in found] == [("喉癌", "larynx")]


# --- the normalisers, with real patient phrasing --------------------------------------------------


@pytest.mark.parametrize(
    "text, age",
    [
        ("六十二", 62),
        ("我今年62岁", 62),
        ("他今年七十六了", 76),
        ("58周岁", 58),
        ("一百零二岁", 102),
        ("我爸七十二岁", 72),
    ],
)
def test_age_in_chinese_numerals(text, age):
    assert normalize.age(text).value == age


@pytest.mark.parametrize(
    "text, code",
    [
        ("我爸喉癌晚期", "larynx"),
        ("声门上型喉癌", "larynx"),
        ("声带上长的", "larynx"),
        ("舌癌", "oral_cavity"),
        ("舌头边上", "oral_cavity"),
        ("扁桃体", "oropharynx"),
        ("舌根癌", "oropharynx"),
        ("梨状窝", "hypopharynx"),
        ("下咽癌", "hypopharynx"),
        ("鼻腔鼻窦", "nasal_cavity_paranasal_sinuses"),
        ("上颌窦癌", "nasal_cavity_paranasal_sinuses"),
        ("鼻咽癌", "nasopharynx"),
        ("腮腺", "salivary_gland"),
        ("原发灶不明", "unknown_primary"),
        ("肺癌", "lung"),
    ],
)
def test_sites_in_chinese(text, code):
    assert normalize.site(text).code == code


def test_throat_in_chinese_is_ambiguous_and_asked():
    assert set(normalize.site("嗓子里长了东西").codes) == {"oropharynx", "hypopharynx", "larynx"}
    assert set(normalize.site("喉咙").codes) == {"oropharynx", "hypopharynx", "larynx"}


@pytest.mark.parametrize(
    "text, stage",
    [
        ("三期", ["III"]),
        ("3期", ["III"]),
        ("Ⅲ期", ["III"]),
        ("第三期", ["III"]),
        ("4a期", ["IVA"]),
        ("IVA期", ["IVA"]),
        ("ⅣA期", ["IVA"]),
        ("四期", ["IVA", "IVB", "IVC"]),
        ("医生说是二期", ["II"]),
        ("临床分期：III", ["III"]),
        ("晚期", ["III", "IVA", "IVB", "IVC"]),
        ("我爸喉癌晚期", ["III", "IVA", "IVB", "IVC"]),
        ("局部晚期", ["III", "IVA", "IVB"]),
        ("早期", ["I", "II"]),
        ("T3、N1、M0", ["II", "III"]),
    ],
)
def test_stage_words_as_chinese_reports_and_patients_write_them(text, stage):
    assert normalize.stage(text).value == stage


@pytest.mark.parametrize(
    "text, grade",
    [
        ("ECOG 1分", 1),
        ("ECOG评分1分", 1),
        ("体力评分2分", 2),
        ("PS评分0分", 0),
        ("一级", 1),
        ("KPS 80分", 1),
        ("卡氏评分八十分", 1),
        ("跟生病前一样，什么都能做", 0),
        ("干不了重活，能做点家务", 1),
        ("生活能自理，但不能上班了", 2),
        ("大部分时间卧床", 3),
        ("卧床不起", 4),
        ("生活不能自理", 4),
    ],
)
def test_ecog_and_kps_in_everyday_chinese(text, grade):
    assert normalize.ecog(text).value == grade


@pytest.mark.parametrize(
    "text, p16, diff, histology",
    [
        ("p16阳性", "positive", None, None),
        ("HPV阴性", "negative", None, None),
        ("没查过", "unknown", "unknown", "unknown"),
        ("低分化鳞癌", None, "poor", "squamous_cell_carcinoma"),
        ("高分化", None, "well", None),
        ("中分化鳞状细胞癌", None, "moderate", "squamous_cell_carcinoma"),
    ],
)
def test_p16_differentiation_and_histology(text, p16, diff, histology):
    assert (normalize.p16(text), normalize.differentiation(text), normalize.histology(text)) == (p16, diff, histology)


@pytest.mark.parametrize(
    "text, fields",
    [
        ("K药打了三次", {"prior_treatment": ["anti_pd1"], "immunotherapy_cycles": 3}),
        (
            "O药三个周期，肿瘤缩小了一半",
            {"prior_treatment": ["anti_pd1"], "immunotherapy_cycles": 3, "immunotherapy_response": "PR"},
        ),
        (
            "卡瑞利珠单抗加化疗三个周期，部分缓解",
            {
                "prior_treatment": ["chemotherapy", "anti_pd1"],
                "immunotherapy_cycles": 3,
                "immunotherapy_response": "PR",
            },
        ),
        ("艾瑞卡联合TP方案两个周期", {"prior_treatment": ["chemotherapy", "anti_pd1"], "immunotherapy_cycles": 2}),
        (
            "先做了TPF诱导化疗三个周期，然后打了替雷利珠单抗两次，肿瘤消失了",
            {
                "prior_treatment": ["chemotherapy", "anti_pd1"],
                "immunotherapy_cycles": 2,
                "immunotherapy_response": "CR",
            },
        ),
        (
            "百泽安、顺铂和白蛋白紫杉醇三四个周期",
            {"prior_treatment": ["chemotherapy", "anti_pd1"], "immunotherapy_cycles": [3, 4]},
        ),
        (
            "信迪利单抗打了四针，没什么变化",
            {"prior_treatment": ["anti_pd1"], "immunotherapy_cycles": 4, "immunotherapy_response": "SD"},
        ),
        ("同步放化疗", {"prior_treatment": ["chemoradiotherapy"]}),
        ("做了手术，术后放疗", {"prior_treatment": ["surgery", "radiotherapy"]}),
        ("还没有治疗", {"prior_treatment": []}),
        ("没有", {"prior_treatment": []}),
        ("只做了活检", {"prior_treatment": []}),
        ("PD-1打了两次，又复发了", {"prior_treatment": ["anti_pd1"], "immunotherapy_cycles": 2, "recurrent": "yes"}),
    ],
)
def test_treatment_answers_in_chinese_are_lines_of_therapy(text, fields):
    assert therapy.derive(therapy.read(text)).fields == fields


def test_planned_refused_and_denied_treatment_in_chinese_is_not_received():
    assert therapy.derive(therapy.read("下周准备手术")).unsettled == {"prior_treatment": "only_planned"}
    assert therapy.derive(therapy.read("拒绝手术")).unsettled == {"prior_treatment": "only_planned"}
    assert therapy.derive(therapy.read("没有做过放疗，做了手术")).fields == {"prior_treatment": ["surgery"]}


def test_a_treatment_is_said_back_in_chinese():
    history = therapy.read("K药打了三次，肿瘤缩小了一半；下周准备手术")
    assert therapy.describe(history, "zh") == "帕博利珠单抗，3个周期，缩小了；手术（计划中）"
    assert therapy.describe(history) == "pembrolizumab, 3 cycles, shrank; surgery planned"


@pytest.mark.parametrize(
    "text, answer",
    [
        ("是的", "yes"),
        ("好的", "yes"),
        ("没有", "no"),
        ("不是", "no"),
        ("不知道", "unknown"),
        ("不清楚", "unknown"),
        ("没问题", "yes"),
    ],
)
def test_yes_no_and_dont_know(text, answer):
    assert normalize.yes_no(text) == answer


def test_sex_and_rather_not_say():
    assert (normalize.sex("男的"), normalize.sex("女性"), normalize.sex("不想说")) == ("male", "female", "unknown")


@pytest.mark.parametrize(
    "text, code",
    [
        ("我爸喉癌晚期", "he"),
        ("帮我妈问问", "she"),
        ("我老公今年58", "he"),
        ("我是患者家属", "they"),
        ("我爱人是舌癌", "they"),
    ],
)
def test_a_relative_in_chinese(text, code):
    assert speaker.about(text).code == code
    assert speaker.wording(code, "zh")["pronoun"] == {"he": "他", "she": "她", "they": "患者"}[code]


@pytest.mark.parametrize(
    "text, kind, name",
    [
        ("我在广州", "city", "Guangzhou"),
        ("广州市", "city", "Guangzhou"),
        ("广东省", "province", "Guangdong"),
        ("我住在海南", "province", "Hainan"),
        ("哪里都行", "anywhere", "anywhere"),
        ("不想说", "declined", "unknown"),
        ("国内都可以", "anywhere", "anywhere"),
    ],
)
def test_cities_and_provinces_in_chinese_order_sites_by_distance(text, kind, name):
    place = geo.place(text)
    assert (place.kind, place.name) == (kind, name)
    assert geo.label("Guangzhou", "zh") == "广州" and geo.label("China", "zh") == "中国"


# --- the NLU component ------------------------------------------------------------------------------


def test_the_component_tags_chinese_entities_with_offsets_as_typed():
    text = "我爸喉癌晚期，今年六十六岁，K药打了三次，肿瘤缩小了一半"
    found = [(f.entity, f.value, text[f.start : f.end]) for f in components.extract(text)]
    assert found == [
        ("tumor_site", "larynx", "喉癌"),
        ("stage", "III,IVA,IVB,IVC", "晚期"),
        ("age", "66", "今年六十六"),
        ("drug", "pembrolizumab", "K药"),
        ("cycles", "3", "三次"),
        ("response", "PR", "肿瘤缩小了一半"),
    ]
    assert [(f.entity, f.value) for f in components.extract("没有做过放疗")] == []  # denied: left to the form


def test_the_tokenizer_cuts_chinese_into_words_and_leaves_english_alone():
    from rasa.shared.nlu.training_data.message import Message

    tokenizer = components.MixedTokenizer(components.MixedTokenizer.get_default_config())
    cut = [t.text for t in tokenizer.tokenize(Message(data={"text": "打了卡瑞利珠单抗和同步放化疗，ECOG 1分"}), "text")]
    assert cut == ["打", "了", "卡瑞利珠单抗", "和", "同步放化疗", "ECOG", "1", "分"]
    english = [t.text for t in tokenizer.tokenize(Message(data={"text": "stage 4a, ECOG 1"}), "text")]
    assert english == ["stage", "4a", "ECOG", "1"]


# --- one assistant, two languages: the domain and the texts built in code ---------------------------


def test_every_response_has_chinese_variants_for_each_english_one():
    for name, variants in DOMAIN["responses"].items():
        english = {
            frozenset((c["name"], str(c["value"])) for c in v.get("condition", []))
            for v in variants
            if not any(c["name"] == "language" for c in v.get("condition", []))
        }
        chinese = {
            frozenset((c["name"], str(c["value"])) for c in v.get("condition", []) if c["name"] != "language")
            for v in variants
            if any(c["name"] == "language" and c["value"] == "zh" for c in v.get("condition", []))
        }
        assert english <= chinese, name


def test_the_most_specific_variant_speaks_the_conversations_language():
    assert variant(DOMAIN, "utter_question_age", {"language": "zh", "role": "nurse"})["text"] == "患者年龄？"
    assert variant(DOMAIN, "utter_question_age", {"language": "zh", "carer": True})["text"] == "{pronoun}今年多大年纪？"
    assert variant(DOMAIN, "utter_question_age", {"language": "zh"})["text"] == "您今年多大年纪？"
    assert variant(DOMAIN, "utter_question_age", {"role": "nurse"})["text"] == "Patient's age?"
    assert variant(DOMAIN, "utter_question_age", {})["text"] == "How old are you?"


def test_every_message_built_in_code_exists_in_both_languages():
    table = yaml.safe_load((ROOT / "actions" / "messages.yaml").read_text(encoding="utf-8"))
    assert all(set(entry) == {"en", "zh"} for entry in table.values()), [
        k for k, e in table.items() if set(e) != {"en", "zh"}
    ]
    assert messages.text("disclaimer", "zh").startswith("这只是预筛查")


# --- the dialogue in Chinese -------------------------------------------------------------------------


def _turn(action, slots, text, intent="inform", requested=None, active_loop="prescreening_form", metadata=None):
    t = tracker(slots, text, intent, components.entities(text), requested, active_loop=active_loop)
    if metadata:
        t.latest_message["metadata"] = metadata
    messages, events, before = run(action, t)
    return messages, {**before, **slot_events(events)}


def test_a_first_message_in_chinese_gets_the_welcome_in_chinese_and_tells_the_page():
    msgs, slots = _turn(
        ActionConverse(), {}, "你好，我想帮我爸查一下临床试验", intent="start_screening", active_loop=None
    )
    assert slots["language"] == "zh"
    assert {"type": "language", "language": "zh"} in [m.get("custom") or m.get("json_message") for m in msgs]
    assert any((m.get("text") or "").startswith("您好。我是头颈部肿瘤临床试验的预筛查助手") for m in msgs)
    # The form then asks consent in Chinese (with Chinese buttons), of a relative.
    msgs, slots = _turn(
        ValidatePrescreeningForm(), {"language": "zh"}, "你好，我想帮我爸查一下临床试验", "start_screening"
    )
    question = next(m for m in msgs if m.get("utter_action") == "utter_question_consent")
    assert question["text"].startswith("开始之前：我会问几个关于他的癌症的问题")
    assert [b["title"] for b in question["buttons"]] == ["我同意", "不用了"]
    assert slots["carer"] is True and slots["subject"] == "he"


def test_the_page_switch_chooses_the_language_and_english_stays_the_default():
    msgs, slots = _turn(ActionConverse(), {}, "hello", intent="greet", active_loop=None, metadata={"language": "zh"})
    assert slots["language"] == "zh" and not [m for m in msgs if (m.get("custom") or {}).get("type") == "language"]
    msgs, slots = _turn(ActionConverse(), {}, "hello", intent="greet", active_loop=None)
    assert slots.get("language") is None and msgs[0]["text"].startswith("Hello.")
    # Latin-only answers in a Chinese conversation keep it Chinese ("ECOG 1", "T3N1M0").
    _, slots = _turn(
        ValidatePrescreeningForm(),
        {**CONSENTED, "language": "zh", "age": 60, "tumor_site": "larynx"},
        "T3N1M0",
        requested="stage",
    )
    assert slots["language"] == "zh" and slots["stage"] == ["III"]


def test_several_facts_in_chinese_fill_several_questions_and_are_said_back_in_chinese():
    msgs, slots = _turn(
        ValidatePrescreeningForm(),
        {**CONSENTED, "language": "zh"},
        "我爸六十六岁，喉癌4a期，ECOG 1分，K药打了三次，肿瘤缩小了一半",
        requested="age",
    )
    assert (slots["age"], slots["tumor_site"], slots["stage"], slots["ecog"]) == (66, "larynx", ["IVA"], 1)
    assert slots["prior_treatment"] == ["anti_pd1"] and slots["immunotherapy_cycles"] == 3
    assert slots["immunotherapy_response"] == "PR"
    said = " ".join(m.get("text") or "" for m in msgs)
    assert "我记下了：帕博利珠单抗，3个周期，缩小了" in said
    assert "喉（声带、声门）" in said and "IVA期" in said


def test_a_correction_in_chinese_updates_the_answer():
    msgs, slots = _turn(
        ValidatePrescreeningForm(),
        {**CONSENTED, "language": "zh", "age": 60},
        "不好意思，我说错了，是六十三岁",
        intent="correct",
        requested="tumor_site",
    )
    assert slots["age"] == 63
    assert "已更新：年龄：60岁 → 63岁。" in " ".join(m.get("text") or "" for m in msgs)


def test_skip_and_the_third_ask_in_chinese():
    slots = {**CONSENTED, "language": "zh", "asked": {"slot": "age", "times": 2}}
    msgs, slots = _turn(ValidatePrescreeningForm(), slots, "这个怎么说呢", intent="chitchat", requested="age")
    buttons = [b["title"] for m in msgs for b in m.get("buttons") or []]
    assert "跳过这个问题" in buttons and "不确定" in buttons


def test_the_result_in_chinese_shows_translations_with_the_trials_words_beside_them():
    msgs, events, _ = run(
        ActionMatchTrials(),
        tracker(
            {**IDEAL_B, "language": "zh", "stage": ["III"], "ecog": 2, "ecog_source": "clinician"}, "", active_loop=None
        ),
    )
    summary = next(m["text"] for m in msgs if (m.get("text") or "").startswith(("可能符合", "不符合", "根据")))
    assert "（译文；原文：“ECOG performance status of 0 or 1.”）" in summary
    assert "“ECOG体力状况评分为0或1分。”" in summary
    payload = next(m["custom"] for m in msgs if (m.get("custom") or {}).get("type") == "trial_matches")
    assert payload["language"] == "zh" and payload["disclaimer"].startswith("这只是预筛查")
    seed = next(m for m in payload["matches"] if m["nct_id"] == "NCT07320690")
    assert (
        seed["title_zh"] == "免疫治疗后局部晚期头颈部鳞状细胞癌的降阶梯手术"
        and seed["title_zh_source"] == "translation"
    )
    assert seed["translation"]["reviewed"] is False
    ecog = next(c for c in seed["criteria"] if c["id"] == "ecog")
    assert (ecog["text"], ecog["text_zh"]) == ("ECOG performance status of 0 or 1.", "ECOG体力状况评分为0或1分。")


def test_an_english_result_keeps_its_shape_and_words():
    msgs, _, _ = run(ActionMatchTrials(), tracker(dict(IDEAL_B), "", active_loop=None))
    payload = next(m["custom"] for m in msgs if (m.get("custom") or {}).get("type") == "trial_matches")
    assert payload["language"] == "en" and payload["disclaimer"].startswith("This is a pre-screen")
    summary = next(
        m["text"] for m in msgs if "Likely fits" in (m.get("text") or "") or "Does not fit" in (m.get("text") or "")
    )
    assert "译文" not in summary


def test_a_relative_named_in_the_first_message_is_asked_about_from_the_consent_on():
    _, slots = _turn(ActionConverse(), {}, "帮我妈查一下", intent="start_screening", active_loop=None)
    assert slots.get("read_message") is None  # the form reads it: 妈 is the patient
    msgs, slots = _turn(ValidatePrescreeningForm(), {"language": "zh"}, "帮我妈查一下", "start_screening")
    assert slots["subject"] == "she"
    assert next(m for m in msgs if m.get("utter_action") == "utter_question_consent")["text"].startswith(
        "开始之前：我会问几个关于她的癌症的问题"
    )


def test_no_typed_to_the_squamous_cell_question_means_another_type():
    _, slots = _turn(
        ValidatePrescreeningForm(), {**CONSENTED, "language": "zh"}, "不是", intent="deny", requested="histology"
    )
    assert slots["histology"] == "other"
    _, slots = _turn(
        ValidatePrescreeningForm(), {**CONSENTED, "language": "zh"}, "不是复发", intent="deny", requested="recurrent"
    )
    assert slots["recurrent"] == "no"
