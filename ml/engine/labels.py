"""The one vocabulary of the analysis, torch-free: class codes in model order, their names, what counts as malignant.

Records (``lesions``), the app (``ml``) and the engine all read it from here, so that no web
process has to import torch to name a class (as timm keeps its constants in ``timm.data.constants``).
"""

from __future__ import annotations

# The order every model, manifest and database row uses.
HAM10000_CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")

# The full names pages, reports and FHIR give the classes.
CLASS_NAMES: dict[str, str] = {
    "akiec": "Actinic keratosis / intraepithelial carcinoma (Bowen's disease)",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis (solar lentigo, seborrhoeic keratosis, lichen planus-like keratosis)",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic naevus",
    "vasc": "Vascular lesion",
}

# Short names where a full one does not fit (a confirmed diagnosis, a table cell).
SHORT_NAMES: dict[str, str] = {
    "akiec": "Actinic keratosis / Bowen's disease",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic naevus",
    "vasc": "Vascular lesion",
}

# Classes counted as malignant or pre-malignant when summing risk.
MALIGNANT_CLASSES: tuple[str, ...] = ("mel", "bcc", "akiec")

MELANOMA = "mel"

__all__ = ["CLASS_NAMES", "HAM10000_CLASSES", "MALIGNANT_CLASSES", "MELANOMA", "SHORT_NAMES"]
