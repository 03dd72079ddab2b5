import numpy as np
import pytest

from idphoto.faces.align import (
    align_face,
    eye_distance,
    five_points,
    id_framing_matrix,
    transform_points,
)

# Five landmarks of a level face: eyes 40 px apart at y=100, mouth 45 px below.
LEVEL = np.array([[180.0, 100], [220, 100], [200, 125], [185, 145], [215, 145]])


def _rotate(points, degrees, centre=(200, 120)):
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - centre) @ rotation.T + centre


def test_sixty_eight_points_reduce_to_eye_centres_nose_and_mouth_corners():
    points = np.zeros((68, 2))
    points[36:42] = [10, 20]
    points[42:48] = [30, 20]
    points[30] = [20, 30]
    points[48] = [12, 40]
    points[54] = [28, 40]
    assert five_points(points).tolist() == [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]]


def test_other_landmark_counts_are_refused():
    with pytest.raises(ValueError):
        five_points(np.zeros((7, 2)))


@pytest.mark.parametrize("roll", [-20, -5, 0, 8, 25])
def test_aligned_eyes_are_level_centred_and_on_the_eye_line(roll):
    points = _rotate(LEVEL, roll)
    out = transform_points(id_framing_matrix(points, 128, 0.7, 0.45), points)
    assert out[0, 1] == pytest.approx(out[1, 1], abs=1e-6)  # eyes level
    assert (out[0, 0] + out[1, 0]) / 2 == pytest.approx(64, abs=1e-6)  # centred
    assert out[0, 1] == pytest.approx(0.45 * 128, abs=1e-6)


def test_head_height_is_the_configured_share_whatever_the_photo_scale():
    small = transform_points(id_framing_matrix(LEVEL, 128, 0.7, 0.45), LEVEL)
    big = transform_points(id_framing_matrix(LEVEL * 3, 128, 0.7, 0.45), LEVEL * 3)
    assert np.allclose(small, big)
    share_small = transform_points(id_framing_matrix(LEVEL, 128, 0.5, 0.45), LEVEL)
    assert eye_distance(share_small) == pytest.approx(eye_distance(small) * 0.5 / 0.7)


def test_align_face_moves_the_pixels_with_the_landmarks():
    image = np.full((300, 400, 3), 200, np.uint8)
    eye = _rotate(LEVEL, 15)[0].round().astype(int)
    image[eye[1] - 3 : eye[1] + 4, eye[0] - 3 : eye[0] + 4] = 0  # a dark spot on the left eye
    aligned = align_face(image, _rotate(LEVEL, 15), 128, 0.7, 0.45)
    x, y = aligned.landmarks[0].round().astype(int)
    assert aligned.image.shape == (128, 128, 3) and aligned.image.dtype == np.uint8
    assert aligned.image[y, x].max() < 100  # the spot is where the landmark says
    assert aligned.image[5, 5].min() == 200  # edges repeat the background, no black fill


def test_large_photos_are_shrunk_without_aliasing():
    # A fine checkerboard must average to grey, not alias into stripes, when shrunk ~10x.
    board = ((np.indices((2000, 2000)).sum(0) % 2) * 255).astype(np.uint8)
    image = np.repeat(board[:, :, None], 3, axis=2)
    points = LEVEL * 8
    aligned = align_face(image, points, 64, 0.7, 0.45)
    assert abs(aligned.image.astype(float).mean() - 127.5) < 10
    assert aligned.image.std() < 20
