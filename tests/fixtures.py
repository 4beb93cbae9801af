"""Stories of our own writing, used across the tests."""

from __future__ import annotations

BELARUS_EARLIER = {
    "headline": "Belarus opens new training grounds to Russian units near Asipovichy",
    "body": (
        "<p>MINSK - Belarus said on Tuesday it had opened two new training grounds for visiting Russian units "
        "near Asipovichy, south-east of Minsk, as the two governments deepen military ties.</p>"
        "<p>The Belarusian defence ministry said the grounds would host joint exercises through the autumn. "
        "Officials in Ukraine said they were watching the build-up in Belarus closely.</p>"
    ),
    "byline": "Newswire staff",
    "dateline": "MINSK",
    "urgency": 4,
    "keywords": ["Belarus", "military"],
}

RUSSIA_LEAVES_BELARUS = {
    "headline": "Russia pulls most of its troops out of Belarus, Ukraine's border guards say",
    "body": (
        "<p>KYIV - Russia has withdrawn almost all of its troops from Belarus after the latest rotation, "
        "Ukraine's State Border Guard Service said on Friday.</p>"
        "<p>Spokesperson Andrii Demchenko said Russian units had used training grounds in Belarus near "
        "Asipovichy, but that their number had fallen steadily. He said there was no reliable information "
        "on fighters of the Wagner Group near Ukraine's northern border.</p>"
        "<p>Wagner fighters moved to Belarus after their leader Yevgeny Prigozhin led a short-lived mutiny "
        "against the military leadership in Moscow. Demchenko said Russia could send troops back to Belarus "
        "in the future.</p>"
    ),
    "byline": "Newswire staff",
    "dateline": "KYIV",
    "urgency": 3,
    "keywords": ["Belarus", "Russia", "Ukraine"],
}

UNRELATED_SPORT = {
    "headline": "Harbour City win the cup final after a late penalty",
    "body": (
        "<p>Harbour City won the national cup final on Saturday with a penalty in the last minute of extra time, "
        "their first trophy in twelve seasons.</p><p>The coach praised the goalkeeper, who saved two shots in "
        "the second half.</p>"
    ),
    "urgency": 5,
}
