from auditoryhum.prompting import PROMPT_TEXT, build_prompt, clean_response, parse_label_line


def test_prompt_and_annotation():
    assert PROMPT_TEXT == "Describe the auditory scene using word pairs. Separate each pair with a comma."
    assert build_prompt("") == PROMPT_TEXT
    assert build_prompt("   ") == PROMPT_TEXT
    assert build_prompt("a bus passes") == PROMPT_TEXT + " a bus passes"


def test_clean_multiline_punctuation_case():
    raw = "Traffic Noise, Car-Horn!\r\nBirds (chirping).\nWind: blowing"
    assert clean_response(raw) == "traffic noise, carhorn, birds chirping, wind blowing"


def test_clean_keeps_commas_and_non_ascii_and_removes_quotes():
    assert clean_response('"Café" ambience, “crowd”') == "café ambience, “crowd”"
    assert clean_response("a\rb\u2028c") == "a, b, c"


def test_parse_label_line_edge_cases():
    assert parse_label_line("traffic noise, car horn") == ["traffic noise", "car horn"]
    # first two words only; non-ASCII dropped; stripped; empty pieces (trailing commas) ignored
    assert parse_label_line("loud traffic noise outside,  café  music ,, ,") == ["loud traffic", "caf music"]
    assert parse_label_line("") == []
    assert parse_label_line("日本語, 音") == []


def test_clean_removes_control_characters_and_makes_a_tab_a_space():
    assert clean_response("Dog\x00 barking\x1b[31m,\tcar\x7f horn\x9b") == "dog barking31m, car horn"
