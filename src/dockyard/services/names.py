"""docker-style random container names: ``adjective_surname``."""

from __future__ import annotations

import random

_LEFT = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy",
    "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting",
    "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant",
    "gifted", "goofy", "gracious", "happy", "hardcore", "heuristic", "hopeful", "hungry",
    "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen", "kind",
    "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic",
    "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent", "romantic",
    "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious",
    "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant",
    "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
)
_RIGHT = (
    "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "blackwell",
    "bohr", "booth", "borg", "bose", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar",
    "clarke", "curie", "darwin", "davinci", "dijkstra", "einstein", "elion", "engelbart", "euclid",
    "euler", "fermat", "fermi", "feynman", "franklin", "galileo", "gates", "goldberg", "goodall",
    "hamilton", "hawking", "heisenberg", "hertz", "hodgkin", "hofstadter", "hopper", "hypatia",
    "jackson", "jang", "jennings", "johnson", "kalam", "kepler", "khorana", "knuth", "kowalevski",
    "lamarr", "lamport", "leakey", "leavitt", "lovelace", "lumiere", "mayer", "mccarthy", "mclean",
    "meitner", "mendel", "mirzakhani", "montalcini", "moore", "morse", "napier", "nash", "newton",
    "nobel", "noether", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "ptolemy",
    "raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shannon", "shockley", "sinoussi",
    "stonebraker", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "villani",
    "wescoff", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
)


def random_name(with_suffix: bool = False) -> str:
    name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
    if with_suffix:
        name += str(random.randint(0, 9))
    return name
