import os

import pytest
from apache_beam.io.filesystems import FileSystems

from idphoto import publish
from idphoto.errors import UserError


def _fill(folder, names):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(name)


def test_staging_is_renamed_into_place_and_replaces_the_old_dataset(tmp_path):
    out = str(tmp_path / "ds")
    _fill(out, ["old.txt"])
    staging = publish.prepare_staging(out, overwrite=True)
    _fill(staging, ["dataset_info.json", "lineage.parquet"])
    publish.publish(staging, out)
    assert sorted(os.listdir(out)) == ["dataset_info.json", "lineage.parquet"]
    assert os.listdir(tmp_path) == ["ds"]  # no staging or retired folder left behind


def test_existing_output_needs_overwrite(tmp_path):
    _fill(str(tmp_path / "ds"), ["x"])
    with pytest.raises(UserError, match="--overwrite"):
        publish.prepare_staging(str(tmp_path / "ds"), overwrite=False)


def test_staging_left_by_a_killed_run_is_removed(tmp_path):
    _fill(str(tmp_path / "ds.partial-deadbeef"), ["idphoto-train.tfrecord-00000-of-00001"])
    staging = publish.prepare_staging(str(tmp_path / "ds"), overwrite=False)
    assert os.listdir(tmp_path) == [os.path.basename(staging)]


def test_unwritable_parent_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot create"):
        publish.prepare_staging(str(blocker / "ds"), overwrite=False)


def test_file_by_file_publish_moves_the_completion_file_last(tmp_path, monkeypatch):
    # The object-store path, exercised on local files through Beam's FileSystems.
    out, staging = str(tmp_path / "ds"), str(tmp_path / "ds.partial-1")
    _fill(out, ["stale.txt"])
    _fill(staging, ["a.tfrecord", "dataset_info.json", "z.parquet"])
    moved = []
    real_rename = FileSystems.rename
    monkeypatch.setattr(
        FileSystems, "rename", lambda src, dst: (moved.extend(src), real_rename(src, dst))
    )
    publish._publish_file_by_file(staging, out, last="dataset_info.json")
    assert os.path.basename(moved[-1]) == "dataset_info.json" and len(moved) == 3
    assert sorted(os.listdir(out)) == ["a.tfrecord", "dataset_info.json", "z.parquet"]
    assert not os.path.exists(staging)


def test_empty_existing_output_is_used_without_overwrite(tmp_path):
    (tmp_path / "ds").mkdir()
    staging = publish.prepare_staging(str(tmp_path / "ds"), overwrite=False)
    publish.publish(staging, str(tmp_path / "ds"))
    assert os.listdir(tmp_path) == ["ds"]


def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    for out in (".", ".."):
        with pytest.raises(UserError, match="current folder or one of its parents"):
            publish.prepare_staging(out, overwrite=True)


def test_a_file_is_not_an_output_folder(tmp_path):
    (tmp_path / "ds").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        publish.prepare_staging(str(tmp_path / "ds"), overwrite=True)


def test_only_our_own_staging_names_are_cleaned_up(tmp_path):
    _fill(str(tmp_path / "ds.partial-notours"), ["keep"])
    _fill(str(tmp_path / "ds.partial-old-0123abcd"), ["x"])
    staging = publish.prepare_staging(str(tmp_path / "ds"), overwrite=False)
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(staging), "ds.partial-notours"])
