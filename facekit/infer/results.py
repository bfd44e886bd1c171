"""The output schema, built in one place: a face's prediction from the model's probabilities, and its JSON entry."""
import numpy as np

from facekit.core.labels import ADIENCE_GROUPS, GENDERS, RACES, age_group, age_group_names


def predictions_from(probabilities, age_bins):
    """``{"age", "gender", "race"}`` probability arrays (N rows) -> one dict per face: age and its standard deviation,
    gender and race with their probabilities, and the probabilities of every gender, race and age group."""
    age_probs, gender_probs, race_probs = (np.asarray(probabilities[name]) for name in ("age", "gender", "race"))
    ages = age_bins.expected_age(age_probs)
    age_std = np.sqrt(np.maximum(age_probs @ age_bins.centres ** 2 - ages ** 2, 0))
    group_of_bin = age_group(age_bins.centres)
    group_probs = np.stack([age_probs[:, group_of_bin == g].sum(axis=1) for g in range(len(ADIENCE_GROUPS))], axis=1)
    results = []
    for i in range(len(ages)):
        gender, race = int(gender_probs[i].argmax()), int(race_probs[i].argmax())
        results.append({
            "age": round(float(ages[i]), 1),
            "age_std": round(float(age_std[i]), 1),
            "gender": GENDERS[gender],
            "gender_probability": round(float(gender_probs[i, gender]), 4),
            "race": RACES[race],
            "race_probability": round(float(race_probs[i, race]), 4),
            "probabilities": {
                "gender": {n: round(float(p), 4) for n, p in zip(GENDERS, gender_probs[i])},
                "race": {n: round(float(p), 4) for n, p in zip(RACES, race_probs[i])},
                "age_group": {n: round(float(p), 4) for n, p in zip(age_group_names(), group_probs[i])},
            },
        })
    return results


def face_entry(face, prediction):
    """A detected face (``facekit.vision.detection.Face``) and its prediction -> the JSON entry of that face."""
    x, y, w, h = face.box
    # float64 before rounding: a float32 rounded to 167.8 still prints as 167.8000030517578
    landmarks = None if face.landmarks is None else np.round(face.landmarks.astype(np.float64), 1).tolist()
    return {"box": {"x": x, "y": y, "width": w, "height": h}, "score": round(face.score, 4),
            "landmarks": landmarks, **prediction}


def photo_entry(faces, image, size):
    """A photo's JSON (face_demo.py --json, the web service): the file's ``size`` (width, height), how much the
    ``image`` that was analysed was shrunk (``detection_scale``, only when it was: ``images.MAX_SIDE``) and its
    faces' entries in the file's pixels."""
    width, height = size
    scale = width / image.shape[1]
    return {"width": width, "height": height, **({"detection_scale": round(1 / scale, 4)} if scale != 1 else {}),
            "faces": [in_file_pixels(face, scale) for face in faces]}


def in_file_pixels(entry, scale):
    """A face's JSON entry with its box and landmarks multiplied by ``scale``: from the pixels of a photo shrunk for
    detection (``images.MAX_SIDE``) to those of its file."""
    if scale == 1:
        return entry
    box = {key: int(round(value * scale)) for key, value in entry["box"].items()}
    landmarks = None if entry["landmarks"] is None else [[round(x * scale, 1), round(y * scale, 1)]
                                                         for x, y in entry["landmarks"]]
    return {**entry, "box": box, "landmarks": landmarks}
