"""edgekit.runtime: load a bundle and answer with it, on the light install.

    from edgekit import runtime
    model = runtime.load("my-bundle", threads=2)
    model.predict(["I loved it.", "Not good."])     # text-classification: label and score per text
    model.embed(["A sentence."])                     # feature-extraction: normalised mean-pooled vectors

Imports only numpy, tokenizers and the one runtime the bundle needs (onnxruntime or openvino). The bundle's
checksums are verified before anything is loaded, and a tampered bundle is refused.
"""

from edgekit.runtime.model import BundleModel, load

__all__ = ["BundleModel", "load"]
