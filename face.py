"""The model: a VGGFace2 ResNet50 (keras-vggface's topology and weights) or a compact CNN, three softmax heads.

    python face.py                                   # summary of the default model
    python face.py --backbone simple_cnn --freeze conv2
    python face.py --export face_weights/RUN/best.keras --format litert   # -> best.tflite + best.tflite.json
    python face.py --export face_weights/RUN/best.keras --format onnx --quantize int8   # -> best.int8.onnx + .json

Import it to use the model from Python::

    import face
    model = face.build_model(weights="vggface2", input_shape=(200, 200, 3), freeze="conv4")
    results = face.predict(model, face_crops)        # uint8 RGB crops -> Predictions: .age, .gender, .race
"""
from facekit.apps.cli import run_script
from facekit.apps.model_command import main
from facekit.backbones.model import build_model, freeze_backbone, load_model
from facekit.backbones.preprocessing import preprocess_input
from facekit.backbones.registry import create_backbone
from facekit.core.labels import ADIENCE_GROUPS, GENDERS, RACES, AgeBins, age_group, age_group_names
from facekit.infer.predictors import predict

__all__ = ["ADIENCE_GROUPS", "GENDERS", "RACES", "AgeBins", "age_group", "age_group_names", "build_model",
           "create_backbone", "freeze_backbone", "load_model", "predict", "preprocess_input", "save_model"]


def save_model(model, path):
    """Saves the whole model (Keras 3 ``.keras``), which :func:`load_model` restores for the demos."""
    model.save(path)


if __name__ == "__main__":
    run_script(main)
