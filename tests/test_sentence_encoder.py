"""The NumPy sentence encoder against the model's reference implementation."""
import json
import shutil

import numpy as np
import pytest

from bot.nlu.sentence_encoder import (
    DIMENSIONS,
    OFFICIAL_SHA256,
    ModelFilesError,
    SentenceEmbeddings,
    SentenceEncoder,
    default_encoder,
    packaged_model_dir,
)
from bot.settings import PROJECT_ROOT

# Vectors computed by sentence-transformers (the model's own runtime, on PyTorch) from the
# same files; "made_with" in the file says which versions.
REFERENCE = json.loads(
    (PROJECT_ROOT / "tests" / "data" / "minilm_reference.json").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def encoder():
    return default_encoder()


@pytest.mark.parametrize("case", REFERENCE["vectors"], ids=lambda case: repr(case["text"]))
def test_vectors_match_the_reference_implementation(encoder, case):
    [vector] = encoder.encode([case["text"]])
    reference = np.asarray(case["vector"], dtype=np.float32)
    assert vector.shape == (DIMENSIONS,)
    assert np.abs(vector - reference).max() < 1e-5
    assert float(vector @ reference) > 0.99999


def test_a_paraphrase_with_no_shared_word_lands_nearest_its_meaning(encoder):
    price, cost, address = encoder.encode(
        ["what's the price", "how much does it cost", "where is your office"])
    assert price @ cost > price @ address + 0.1


def test_odd_input_gives_a_finite_unit_vector(encoder):
    texts = ["", "   ", "🙂🙂🙂", "<script>alert(1)</script>", "'; DROP TABLE leads; --",
             "¿dónde está la clínica?", "word " * 5000]
    vectors = encoder.encode(texts)
    assert vectors.shape == (len(texts), DIMENSIONS)
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_the_feature_transformer_scales_the_vectors_by_its_weight(encoder):
    features = SentenceEmbeddings(weight=0.5).fit(["a"]).transform(["is this a bot?"])
    assert features.shape == (1, DIMENSIONS)
    assert np.allclose(features.toarray()[0], 0.5 * encoder.encode(["is this a bot?"])[0])


def _copy_of_the_model(tmp_path):
    """The packaged model in a folder of our own; the big weights file is linked, not copied."""
    source = packaged_model_dir()
    target = tmp_path / "model"
    target.mkdir()
    for name in OFFICIAL_SHA256:
        if name == "model.safetensors":
            (target / name).symlink_to(source / name)
        else:
            shutil.copy(source / name, target / name)
    return target


def test_the_official_files_load(tmp_path):
    SentenceEncoder(_copy_of_the_model(tmp_path))


def test_a_changed_model_file_is_refused(tmp_path):
    model_dir = _copy_of_the_model(tmp_path)
    config = json.loads((model_dir / "config.json").read_text())
    config["num_hidden_layers"] = 2
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFilesError, match="not the official"):
        SentenceEncoder(model_dir)


def test_a_missing_model_file_is_refused(tmp_path):
    model_dir = _copy_of_the_model(tmp_path)
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ModelFilesError, match="missing"):
        SentenceEncoder(model_dir)
