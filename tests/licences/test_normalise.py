import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from license_expression import get_spdx_licensing

from idphoto.licences import NAMED_CLASSES, Normalised, normalise

# Real-world spellings and the SPDX id (or expression) they mean.
TO_SPDX = [
    # SPDX ids and expressions, any case
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("cc-by-4.0", "CC-BY-4.0"),
    ("cc-by-nc-sa-4.0", "CC-BY-NC-SA-4.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("cc-pdm-1.0", "CC-PDM-1.0"),
    ("CC-BY-3.0-IGO", "CC-BY-3.0-IGO"),
    ("cc-by-3.0-de", "CC-BY-3.0-DE"),
    ("GFDL-1.3", "GFDL-1.3-only"),
    ("GFDL-1.2-or-later", "GFDL-1.2-or-later"),
    ("gfdl-1.2+", "GFDL-1.2-or-later"),
    ("MIT", "MIT"),
    ("CC-BY-2.0 OR CC0-1.0", "CC-BY-2.0 OR CC0-1.0"),
    ("cc-by-2.0 or cc0-1.0", "CC-BY-2.0 OR CC0-1.0"),
    ("CC-BY-2.0 AND CC-BY-SA-4.0", "CC-BY-2.0 AND CC-BY-SA-4.0"),
    ("(CC-BY-2.0 OR CC0-1.0) AND CC-BY-SA-4.0", "(CC-BY-2.0 OR CC0-1.0) AND CC-BY-SA-4.0"),
    ("(cc-by-nd-4.0)", "CC-BY-ND-4.0"),
    ("CC-BY-2.0 WITH Classpath-exception-2.0", "CC-BY-2.0 WITH Classpath-exception-2.0"),
    # Creative Commons names
    ("CC BY 4.0", "CC-BY-4.0"),
    ("CC BY 2.0", "CC-BY-2.0"),
    ("CC-BY 3.0", "CC-BY-3.0"),
    ("CC BY-SA 2.0", "CC-BY-SA-2.0"),
    ("CC-BY-SA 2.0", "CC-BY-SA-2.0"),
    ("cc by-nc-sa 3.0", "CC-BY-NC-SA-3.0"),
    ("CC BY-NC 2.0", "CC-BY-NC-2.0"),
    ("CC BY-ND 4.0", "CC-BY-ND-4.0"),
    ("CC BY-NC-ND 4.0", "CC-BY-NC-ND-4.0"),
    ("CC BY 4", "CC-BY-4.0"),
    ("CC BY v4.0", "CC-BY-4.0"),
    ("CC BY-SA 2.5", "CC-BY-SA-2.5"),
    ("Creative Commons Attribution 4.0 International", "CC-BY-4.0"),
    ("Creative Commons Attribution 4.0 International License", "CC-BY-4.0"),
    ("Creative Commons Attribution 4.0 International Public License", "CC-BY-4.0"),
    ("Creative Commons Attribution-NonCommercial-ShareAlike 2.0 Generic", "CC-BY-NC-SA-2.0"),
    ("Creative Commons Attribution-ShareAlike 3.0 Unported", "CC-BY-SA-3.0"),
    ("Creative Commons Attribution Share Alike 4.0 International", "CC-BY-SA-4.0"),
    ("Creative Commons Attribution Non Commercial 4.0 International", "CC-BY-NC-4.0"),
    ("Creative Commons Attribution-NoDerivatives 4.0 International", "CC-BY-ND-4.0"),
    ("Creative Commons Attribution-No Derivative Works 3.0 Unported", "CC-BY-ND-3.0"),
    ("Attribution-NoDerivs 3.0 Unported", "CC-BY-ND-3.0"),
    ("Attribution-ShareAlike 4.0 International", "CC-BY-SA-4.0"),
    ("Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0)", "CC-BY-SA-4.0"),
    ("CreativeCommons Attribution 2.0", "CC-BY-2.0"),
    # ported versions: SPDX's id where it has one, else the generic licence
    ("CC BY 3.0 IGO", "CC-BY-3.0-IGO"),
    ("CC BY-NC-SA 3.0 IGO", "CC-BY-NC-SA-3.0-IGO"),
    ("CC BY-SA 3.0 DE", "CC-BY-SA-3.0-DE"),
    ("CC BY-SA 3.0 Germany", "CC-BY-SA-3.0-DE"),
    ("Creative Commons Attribution 3.0 Austria", "CC-BY-3.0-AT"),
    ("CC BY 3.0 US", "CC-BY-3.0-US"),
    ("CC BY-NC-SA 2.0 UK: England & Wales", "CC-BY-NC-SA-2.0-UK"),
    ("CC BY-NC-SA 2.0 France", "CC-BY-NC-SA-2.0-FR"),
    ("CC BY-SA 2.1 Japan", "CC-BY-SA-2.1-JP"),
    ("CC BY 2.5 Spain", "CC-BY-2.5"),
    ("CC BY-SA 3.0 ES", "CC-BY-SA-3.0"),
    ("CC BY-NC 2.5 Brazil", "CC-BY-NC-2.5"),
    ("CC BY 2.1 JP", "CC-BY-2.0"),  # SPDX has no CC-BY-2.1*: the nearest earlier version
    # CC0
    ("CC0", "CC0-1.0"),
    ("cc0", "CC0-1.0"),
    ("CC0 1.0", "CC0-1.0"),
    ("CC0 1.0 Universal", "CC0-1.0"),
    ("CC Zero", "CC0-1.0"),
    ("CC-Zero", "CC0-1.0"),
    ("Creative Commons Zero v1.0 Universal", "CC0-1.0"),
    ("CC0 1.0 Universal (CC0 1.0) Public Domain Dedication", "CC0-1.0"),
    # Creative Commons URLs
    ("https://creativecommons.org/licenses/by-nc/2.0/", "CC-BY-NC-2.0"),
    ("http://creativecommons.org/licenses/by/2.0/", "CC-BY-2.0"),
    ("https://creativecommons.org/licenses/by-sa/4.0/deed.en", "CC-BY-SA-4.0"),
    ("https://www.creativecommons.org/licenses/by/4.0/deed.de", "CC-BY-4.0"),
    ("creativecommons.org/licenses/by-nc-nd/3.0/legalcode", "CC-BY-NC-ND-3.0"),
    ("https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode.fr", "CC-BY-NC-SA-4.0"),
    ("http://creativecommons.org/licenses/by-nd-nc/1.0/", "CC-BY-NC-ND-1.0"),
    ("https://creativecommons.org/licenses/by-sa/3.0/de/", "CC-BY-SA-3.0-DE"),
    ("https://creativecommons.org/licenses/by/3.0/igo/", "CC-BY-3.0-IGO"),
    ("https://creativecommons.org/licenses/by/2.5/es/deed.es", "CC-BY-2.5"),
    ("http://creativecommons.org:80/licenses/by/2.0", "CC-BY-2.0"),
    ("https://creativecommons.org/licenses/by/4.0/?ref=chooser-v1", "CC-BY-4.0"),
    ("creativecommons.org/publicdomain/zero/1.0/legalcode", "CC0-1.0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
    ("http://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0"),
    ("https://creativecommons.org/licenses/publicdomain/", "CC-PDDC"),
    # short codes: no version means the current 4.0
    ("by", "CC-BY-4.0"),
    ("BY", "CC-BY-4.0"),
    ("by-nc", "CC-BY-NC-4.0"),
    ("by-sa", "CC-BY-SA-4.0"),
    ("by-nd", "CC-BY-ND-4.0"),
    ("BY-NC-ND", "CC-BY-NC-ND-4.0"),
    ("by-nc-sa", "CC-BY-NC-SA-4.0"),
    ("cc-by", "CC-BY-4.0"),
    ("cc by-sa", "CC-BY-SA-4.0"),
    ("pdm", "CC-PDM-1.0"),
    ("CC-PDM", "CC-PDM-1.0"),
    # Flickr / FFHQ `metadata.license` names: Flickr's CC licences are version 2.0
    ("Attribution License", "CC-BY-2.0"),
    ("Attribution-NonCommercial License", "CC-BY-NC-2.0"),
    ("Attribution-ShareAlike License", "CC-BY-SA-2.0"),
    ("Attribution-NoDerivs License", "CC-BY-ND-2.0"),
    ("Attribution-NonCommercial-ShareAlike License", "CC-BY-NC-SA-2.0"),
    ("Attribution-NonCommercial-NoDerivs License", "CC-BY-NC-ND-2.0"),
    ("Public Domain Dedication (CC0)", "CC0-1.0"),
    ("Public Domain Mark", "CC-PDM-1.0"),
    ("Public Domain Mark 1.0", "CC-PDM-1.0"),
    # GFDL
    ("GNU Free Documentation License 1.2", "GFDL-1.2-only"),
    ("GNU Free Documentation License, Version 1.3", "GFDL-1.3-only"),
    ("GNU Free Documentation License v1.3 or later", "GFDL-1.3-or-later"),
    ("GFDL 1.3", "GFDL-1.3-only"),
    ("GFDL 1.2 or later", "GFDL-1.2-or-later"),
    ("GNU FDL 1.2", "GFDL-1.2-only"),
    ("GFDL", "GFDL-1.2-or-later"),  # Wikimedia's bare {{GFDL}} tag
    ("https://www.gnu.org/licenses/fdl-1.3.html", "GFDL-1.3-only"),
    # other URLs
    ("https://spdx.org/licenses/CC-BY-4.0.html", "CC-BY-4.0"),
    # expressions in free text
    ("cc by 2.0 or cc0", "CC-BY-2.0 OR CC0-1.0"),
    ("CC BY-SA 3.0 and/or GFDL 1.2", "CC-BY-SA-3.0 OR GFDL-1.2-only"),
    ("(CC BY 2.0 or CC0) and CC BY-SA 4.0", "(CC-BY-2.0 OR CC0-1.0) AND CC-BY-SA-4.0"),
    # a copyright notice that names its licence
    ("© 2019 Jane Doe, CC BY-SA 4.0", "CC-BY-SA-4.0"),
    ("(c) Jane Doe - CC BY 2.0", "CC-BY-2.0"),
]

# Real-world spellings of licences SPDX has no id for, and their named class.
TO_CLASS = [
    # public domain
    ("Public Domain", "public-domain"),
    ("public domain", "public-domain"),
    ("Public-Domain", "public-domain"),
    ("publicdomain", "public-domain"),
    ("PD", "public-domain"),
    ("PD-US", "public-domain"),
    ("PD-old-70", "public-domain"),
    ("PD-self", "public-domain"),
    ("Public domain (NASA)", "public-domain"),
    ("Public Domain (US Navy)", "public-domain"),
    ("Released into the public domain", "public-domain"),
    ("This image is in the public domain", "public-domain"),
    # US government works
    ("United States Government Work", "us-government-work"),
    ("US Government Work", "us-government-work"),
    ("U.S. Government Work", "us-government-work"),
    ("Work of the U.S. federal government", "us-government-work"),
    ("Work of the United States Government", "us-government-work"),
    ("PD-USGov", "us-government-work"),
    ("PD-USGov-NASA", "us-government-work"),
    ("PD-USGov-Military-Navy", "us-government-work"),
    ("http://www.usa.gov/copyright.shtml", "us-government-work"),
    # no known restrictions (Flickr Commons)
    ("No known copyright restrictions", "no-known-restrictions"),
    ("No known restrictions", "no-known-restrictions"),
    ("https://www.flickr.com/commons/usage/", "no-known-restrictions"),
    # copyright notices
    ("All Rights Reserved", "all-rights-reserved"),
    ("all rights reserved", "all-rights-reserved"),
    ("© 2019 Jane Doe", "all-rights-reserved"),
    ("©", "all-rights-reserved"),
    ("(c) Jane Doe. All rights reserved.", "all-rights-reserved"),
    ("(C) 2021 Getty Images", "all-rights-reserved"),
    ("Copyright 2020 ACME", "all-rights-reserved"),
    ("Copyright © 2020 ACME Corp.", "all-rights-reserved"),
    ("Copyright 2019 Jane and John Doe", "all-rights-reserved"),
    ("CC BY 2.0, all rights reserved", "all-rights-reserved"),
    # blank
    ("", "empty"),
    ("   ", "empty"),
    ("\t\n", "empty"),
    ('""', "empty"),
    # garbage and licences too vague to use
    ("asdf", "unknown"),
    ("licence: ???", "unknown"),
    ("licence: see website??", "unknown"),
    ("MIT-ish", "unknown"),
    ("Some rights reserved", "unknown"),
    ("cc", "unknown"),
    ("CC BY 5.0", "unknown"),
    ("CC BY-ND-SA 4.0", "unknown"),
    ("by me", "unknown"),
    ("photo by Jane", "unknown"),
    ("https://example.com/licence", "unknown"),
    ("https://creativecommons.org/about/", "unknown"),
    ("asdf or qwer", "unknown"),
    ("CC BY 2.0 or", "unknown"),
    ("()", "unknown"),
    ("( or a", "unknown"),
]


def _ids(cases):
    return [text or "<empty>" for text, _ in cases]


@pytest.mark.parametrize(("text", "spdx"), TO_SPDX, ids=_ids(TO_SPDX))
def test_licence_spellings_normalise_to_their_spdx_id(text, spdx):
    assert normalise(text) == Normalised(spdx=spdx, name=spdx)


@pytest.mark.parametrize(("text", "licence_class"), TO_CLASS, ids=_ids(TO_CLASS))
def test_licences_without_spdx_id_normalise_to_a_named_class(text, licence_class):
    assert normalise(text) == Normalised(spdx=None, name=licence_class)


def test_every_expected_spdx_id_is_one_spdx_knows():
    licensing = get_spdx_licensing()
    for _, spdx in TO_SPDX:
        assert licensing.parse(spdx, validate=True).render() == spdx


def test_expression_mixing_spdx_ids_and_classes_keeps_both_in_the_name():
    assert normalise("CC BY 2.0 or Public Domain") == Normalised(None, "CC-BY-2.0 OR public-domain")
    assert normalise("cc by 2.0 and asdf") == Normalised(None, "CC-BY-2.0 AND unknown")


def test_spdx_id_of_a_non_image_licence_is_kept_for_the_policy_to_judge():
    assert normalise("apache-2.0") == Normalised("Apache-2.0", "Apache-2.0")


def test_none_is_an_empty_licence():
    assert normalise(None) == Normalised(None, "empty")


def _variants(text):
    yield text.upper()
    yield text.lower()
    yield f"  \t{text} \n"
    yield text.replace(" ", "   ")
    yield f'"{text}"'
    yield f"'{text}'"
    yield f"\u201c{text}\u201d"
    yield text.replace("-", "\u2013")  # en dash
    yield text.replace("-", "\u2014")  # em dash
    yield text.replace("-", "_")
    yield "\ufeff" + text  # byte-order mark from a CSV export


@pytest.mark.parametrize(("text", "_expected"), TO_SPDX + TO_CLASS, ids=_ids(TO_SPDX + TO_CLASS))
def test_case_whitespace_quotes_dashes_and_underscores_do_not_change_the_result(text, _expected):
    expected = normalise(text)
    assert [normalise(v) for v in _variants(text)] == [expected] * len(list(_variants(text)))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_normalises_without_raising(text):
    normalised = normalise(text)
    assert normalised.name
    assert normalised.spdx is None or normalised.spdx == normalised.name


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["cc", "by", "nc", "or", "and", "with", "(", ")", "2.0", "-", "/", "©"]),
        max_size=8,
    ).map(" ".join)
)
def test_licence_like_token_soup_normalises_without_raising(text):
    assert normalise(text).name


def test_named_classes_are_the_ones_the_contract_lists():
    assert set(NAMED_CLASSES) == {
        "public-domain",
        "us-government-work",
        "no-known-restrictions",
        "all-rights-reserved",
        "unknown",
        "empty",
    }


def test_text_over_500_characters_is_unknown_and_500_still_reads():
    readable = "Public domain (CC0) "
    at_limit = readable + "x" * (500 - len(readable))
    assert len(at_limit) == 500 and normalise(at_limit) == Normalised("CC0-1.0", "CC0-1.0")
    assert normalise(at_limit + "x") == Normalised(None, "unknown")
    # An SPDX expression that would allow the photo is not read past the limit either.
    allowed = " OR ".join(["CC0-1.0"] * 45)
    assert len(allowed) < 500 and normalise(allowed).spdx.startswith("CC0-1.0 OR")
    longer = " OR ".join(["CC0-1.0"] * 46)
    assert len(longer) > 500 and normalise(longer) == Normalised(None, "unknown")


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_parentheses_nested_up_to_3_deep_are_read(depth):
    text = "Attribution 4.0 International " + "(" * depth + "CC BY 4.0" + ")" * depth
    assert normalise(text) == Normalised("CC-BY-4.0", "CC-BY-4.0")


@pytest.mark.parametrize("depth", [4, 5, 12])
def test_parentheses_nested_over_3_deep_are_unknown(depth):
    text = "Attribution 4.0 International " + "(" * depth + "CC BY 4.0" + ")" * depth
    assert normalise(text) == Normalised(None, "unknown")
    assert normalise("Public domain " + "(" * depth + "CC0" + ")" * depth).name == "unknown"


@pytest.mark.parametrize(
    "text",
    [
        "CC BY 4.0 (non-commercial use only)",  # states NC, which CC BY lacks
        "CC BY-SA 4.0 (no derivatives)",  # states ND
        "CC BY 4.0 (share alike)",  # states SA
        "CC0 (attribution required)",  # states BY, which CC0 waives
    ],
)
def test_text_stating_an_element_its_licence_lacks_is_unknown(text):
    # Unknown, not a looser reading of the named licence: rejected for every use.
    assert normalise(text) == Normalised(None, "unknown")
