import numpy as np

from idphoto.tracking.charts import lineage_chart


def _row(licence_class, decision, reason):
    return {"class": licence_class, "decision": decision, "reason": reason}


def test_the_lineage_chart_is_an_image_with_green_and_red_bars():
    rows = [_row("cc-by", "accepted", "ok")] * 5 + [_row("cc-by-nc", "rejected", "non_commercial")]
    image = lineage_chart(rows, "sample")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    red, green, blue = (image[..., c].astype(int) for c in range(3))
    assert ((green > 100) & (red < 80)).sum() > 200  # accepted bars
    assert ((red > 170) & (green < 80) & (blue < 80)).sum() > 200  # rejected bars
