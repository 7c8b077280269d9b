"""Inside the Rasa process, NLU: the rule-based clinical entity extractor and featurizer
(``components``, spaCy rules from knowledge/vocabulary) and the lookup tables generated
from the same vocabulary at train time (``lookups``)."""
