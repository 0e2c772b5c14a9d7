# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The learned backbones behind the metrics and the perceptual loss, without any download: the one
weights resolver (local files, folders, hf:// files offline), the shared VGG trunk (perceptual loss
and LPIPS), and the transformers DINO features (FD_DINO, DINO_SIM) on tiny random models."""

from __future__ import annotations

import os

import pytest
import torch

from mcc_hf.errors import ModelLoadingError, UserInputError
from mcc_hf.evaluation.perceptual import LPIPSVGG, load_lpips
from mcc_hf.evaluation.vgg import VGGTrunk
from mcc_hf.evaluation.weights import load_state_dict, resolve_weights
from mcc_hf.training.vgg import VGG19Features

offline = pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE") != "1", reason="checks the offline Hub route (conftest sets HF_HUB_OFFLINE=1)")


def _save(state: dict[str, torch.Tensor], path) -> str:
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return str(path)


def _torchvision_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights of the whole torchvision ``features`` of ``arch`` plus a classifier key, as torchvision saves them."""
    torch.manual_seed(seed)
    trunk = VGGTrunk(arch, num_layers=100)
    state = {f"features.{k}": v.clone() for k, v in trunk.features.state_dict().items()}
    state["classifier.0.weight"] = torch.randn(4, 4)
    return state


# --- the weights resolver ------------------------------------------------------------------------


def test_resolver_reads_files_and_folders(tmp_path):
    state = {"features.0.weight": torch.ones(2, 2)}
    file = _save(state, tmp_path / "w.pth")
    assert resolve_weights(file) == file
    torch.testing.assert_close(load_state_dict(file)["features.0.weight"], torch.ones(2, 2))
    wrapped = _save({"state_dict": state, "epoch": 3}, tmp_path / "wrapped.pt")
    assert set(load_state_dict(wrapped)) == {"features.0.weight"}

    folder = tmp_path / "repo"
    folder.mkdir()
    _save(state, folder / "vgg.safetensors")
    assert resolve_weights(str(folder)).endswith("vgg.safetensors")  # the only weights file
    _save(state, folder / "model.safetensors")
    assert resolve_weights(str(folder)).endswith("model.safetensors")  # the conventional name wins
    (folder / "model.safetensors").unlink()
    _save(state, folder / "other.pth")
    with pytest.raises(ModelLoadingError, match="2 weights files"):
        resolve_weights(str(folder))


def test_resolver_errors_name_the_problem_and_the_hint(tmp_path):
    with pytest.raises(ModelLoadingError, match="weights file not found: .*missing.pth. Pass it"):
        resolve_weights(str(tmp_path / "missing.pth"), hint="Pass it with --x")
    # The perceptual loss's old 'owner/name:file' form is answered with the hf:// spelling.
    with pytest.raises(ModelLoadingError, match=r"hf://timm/vgg19.tv_in1k/model.safetensors"):
        resolve_weights("timm/vgg19.tv_in1k:model.safetensors")
    with pytest.raises(ModelLoadingError, match=r"hf://owner/repo\[/path/in/repo\]"):
        resolve_weights("owner/repo")
    with pytest.raises(ModelLoadingError, match="hf://owner/repo"):
        resolve_weights("hf://only-owner")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadingError, match="cannot read weights"):
        load_state_dict(str(tmp_path / "junk.safetensors"))
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ModelLoadingError, match="does not hold a state dict"):
        load_state_dict(str(tmp_path / "list.pth"))


@offline
@pytest.mark.parametrize("spec", ["hf://no-such-owner/no-such-vgg", "hf://no-such-owner/no-such-vgg@v1/sub/w.pth",
                                  "hf://datasets/no-such-owner/no-such-set/w.pth"])
def test_resolver_hub_files_fail_offline_with_the_hint(spec):
    with pytest.raises(ModelLoadingError, match=r"cannot fetch hf://.*\. Use --weights"):
        resolve_weights(spec, hint="Use --weights")


def test_resolver_hub_syntax_is_parsed_into_repo_file_and_revision(monkeypatch):
    calls = []

    def fake_download(repo_id, filename, repo_type=None, revision=None):
        calls.append((repo_id, filename, repo_type, revision))
        return "/cache/file"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert resolve_weights("hf://timm/vgg19.tv_in1k") == "/cache/file"
    resolve_weights("hf://me/lpips@v0.1/weights/v0.1/vgg.pth")
    resolve_weights("hf://spaces/me/demo/inception.pt")
    assert calls == [
        ("timm/vgg19.tv_in1k", "model.safetensors", None, None),
        ("me/lpips", "weights/v0.1/vgg.pth", None, "v0.1"),
        ("me/demo", "inception.pt", "space", None),
    ]


# --- one VGG trunk for the perceptual loss and LPIPS ---------------------------------------------


def test_perceptual_loss_and_lpips_share_the_vgg_trunk():
    assert isinstance(VGG19Features(), VGGTrunk) and isinstance(LPIPSVGG(), VGGTrunk)
    assert VGG19Features().arch == "vgg19" and LPIPSVGG().arch == "vgg16"
    # torchvision indices: VGG16 convs at 0, 2, 5, ..., 28 (13 convs up to relu5_3).
    convs = sorted({int(k.split(".")[0]) for k in LPIPSVGG().features.state_dict()})
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert not any(p.requires_grad for p in LPIPSVGG().parameters())


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_one_loader_for_both_trunks(tmp_path, suffix):
    vgg19 = _save(_torchvision_state("vgg19"), tmp_path / f"vgg19{suffix}")
    features = VGG19Features.from_weights(vgg19)
    torch.testing.assert_close(features.features[28].weight, _torchvision_state("vgg19")["features.28.weight"])

    vgg16 = _save({f"model.{k}": v for k, v in _torchvision_state("vgg16").items()}, tmp_path / f"vgg16{suffix}")  # prefixed keys
    heads = _save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))},
                  tmp_path / f"heads{suffix}")
    lpips = load_lpips(vgg16, heads)
    torch.testing.assert_close(lpips.features[28].weight, _torchvision_state("vgg16")["features.28.weight"])
    frames = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(lpips(frames, frames), torch.zeros(2))
    assert (lpips(frames, frames.flip(-1)) > 0).all()


def test_trunk_errors_carry_each_users_advice(tmp_path):
    vgg16 = _save(_torchvision_state("vgg16"), tmp_path / "vgg16.safetensors")
    with pytest.raises(ModelLoadingError, match=r"lack 6 of the 26 VGG19 tensors .*features.16.weight.*--perceptual_weight 0"):
        VGG19Features.from_weights(vgg16)  # VGG16 has pools where VGG19 has its extra convs
    wrong = _torchvision_state("vgg19")
    wrong["features.28.weight"] = torch.zeros(512, 256, 3, 3)
    with pytest.raises(ModelLoadingError, match="do not fit the VGG19 layout.*features.28.weight.*--vgg_weights"):
        VGG19Features.from_weights(_save(wrong, tmp_path / "wrong.pth"))
    with pytest.raises(UserInputError, match="--vgg_weights"):
        VGG19Features.from_weights(str(tmp_path / "none.safetensors"))
    with pytest.raises(ModelLoadingError, match="--lpips-heads"):
        load_lpips(vgg16, str(tmp_path / "none.pth"))


@offline
def test_perceptual_loss_weights_from_the_hub_fail_offline_with_advice():
    with pytest.raises(ModelLoadingError, match=r"cannot fetch hf://no-such-owner/no-such-vgg19.*--perceptual_weight 0"):
        VGG19Features.from_weights("hf://no-such-owner/no-such-vgg19")
