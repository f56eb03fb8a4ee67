"""Write data/demo.jsonl: a synthetic, labelled corpus of blog comments for the quick start.

Everything here is made up by this script (no text comes from any dataset). Comments are built
from many small fragments so that no two texts repeat and no single word separates the classes:
ham mentions prices and links to documentation, spam is sometimes short, polite and link-free.
Addresses come from the documentation ranges (RFC 5737, RFC 3849) and phone numbers from the
ranges reserved for fiction. Run `python scripts/make_demo_data.py` to regenerate it byte for byte.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20240601
TOTAL = 2000
SPAM_SHARE = 0.4
START = datetime(2024, 1, 8, tzinfo=UTC)
END = datetime(2024, 6, 28, tzinfo=UTC)
OUT = Path(__file__).resolve().parents[1] / "data" / "demo.jsonl"

# The fragment tables read better packed than one item per line.
# fmt: off
SITES = {
    "recipes.example.com": ("cooking",),
    "forum.example.net": ("programming",),
    "blog.example.org": ("travel", "gardening"),
}
POSTS = {
    "cooking": [
        "Weeknight chickpea curry", "No-knead sourdough for beginners", "Crispy roast potatoes",
        "Lemon drizzle cake", "Homemade ramen broth", "Shakshuka for two", "Brown butter banana bread",
        "Miso glazed salmon", "Five-minute tomato salsa", "Slow cooker beef ragu",
    ],
    "programming": [
        "Python asyncio: tasks versus threads", "Why your Docker image is 2 GB",
        "Rust lifetimes without tears", "SQL indexes explained", "Git rebase without fear",
        "Testing Flask apps with pytest", "Regex performance pitfalls", "Type hints in practice",
        "Profiling a slow Django view",
    ],
    "travel": [
        "Two weeks in Portugal by train", "A budget guide to Kyoto", "Hiking the Dolomites hut to hut",
        "Iceland's ring road in winter", "Street food in Hanoi", "Slow travel across the Balkans",
    ],
    "gardening": [
        "Growing tomatoes in containers", "Composting for small gardens", "Pruning roses in late winter",
        "Raised beds on a budget", "Saving seeds from heirloom beans", "A wildflower strip for bees",
    ],
}
# The site owners, who answer questions under their own posts.
OWNERS = {"recipes.example.com": "Marta", "forum.example.net": "devon_admin", "blog.example.org": "Ines"}
OWNER_IPS = {
    "recipes.example.com": "203.0.113.5",
    "forum.example.net": "2001:db8:42::7",
    "blog.example.org": "198.51.100.10",
}
# Per topic: things a reader talks about, alternatives, outcomes, and links a reader might give.
TOPIC = {
    "cooking": {
        "thing": [
            "the chickpeas", "the dough", "the potatoes", "the glaze", "the broth", "the sauce",
            "the batter", "the spice mix", "the garlic", "the oven temperature", "the resting time",
        ],
        "alt": [
            "oat milk", "a gluten-free flour blend", "sweet potatoes", "tofu", "honey instead of sugar",
            "dried thyme", "a cast iron pan", "an air fryer", "frozen spinach", "coconut yoghurt",
        ],
        "when": [
            "last night", "on Sunday", "for my in-laws", "twice this week", "for a potluck",
            "for my daughter's birthday", "after work", "for meal prep",
        ],
        "outcome": [
            "it came out perfect", "everyone asked for seconds", "it was a bit too salty for us",
            "it took longer than the recipe says", "the kids loved it", "it burned on the bottom",
            "it was even better the next day", "it was a little dry",
        ],
        "fact": [
            "baking soda and baking powder are not interchangeable one to one",
            "the Maillard reaction needs a dry surface", "salt in the water does not make it boil faster",
            "you can freeze the dough for about a month", "resting meat mostly helps thick cuts",
        ],
        "price": [
            "the best deal I found online was $25 for the pan", "the pan was $35 on sale",
            "saffron cost me almost $12 for a tiny jar",
            "the stand mixer was a $300 investment but worth it", "a bag of flour is about $4 here",
        ],
        "side": [
            "my neighbour sells her sourdough at the market now and makes decent cash from it",
            "the recipe group I am in chats on WhatsApp and everyone is making this",
            "the casino buffet in our town does a version of this and it is terrible",
        ],
        "link": [
            "https://en.wikipedia.org/wiki/Maillard_reaction", "https://en.wikipedia.org/wiki/Sourdough",
            "https://en.wikipedia.org/wiki/Shakshouka", "https://github.com/cooklang/spec",
        ],
    },
    "programming": {
        "thing": [
            "the event loop", "the multi-stage build", "the borrow checker", "the composite index",
            "interactive rebase", "the test client fixture", "catastrophic backtracking",
            "the Protocol example", "the N+1 query", "the connection pool",
        ],
        "alt": [
            "trio", "a distroless base image", "Rc<RefCell<T>>", "a partial index", "git merge --no-ff",
            "factory_boy", "the re2 engine", "TypedDict", "select_related", "SQLAlchemy 2.0",
        ],
        "when": [
            "on a project at work", "yesterday", "on Python 3.12", "in our CI pipeline",
            "on an old Raspberry Pi", "in production last month", "on a side project",
        ],
        "outcome": [
            "it cut the runtime in half", "the image went from 2.1 GB to 180 MB",
            "the tests went from flaky to green", "it still deadlocks for me", "memory usage stayed flat",
            "the query plan finally used the index",
        ],
        "fact": [
            "asyncio.gather does not cancel the other tasks when one fails by default",
            "the GIL is released during blocking I/O", "COPY --chown avoids an extra layer",
            "EXPLAIN ANALYZE actually runs the query", "git reflog can bring back a lost branch",
            "re.compile results are cached anyway",
        ],
        "price": [
            "our AWS bill dropped from $900 to $300 a month", "the free tier is enough for a side project",
            "the paid tier is $20 per seat", "we were paying $1,200 a year for a CI plan we barely used",
        ],
        "side": [
            "I built a small crypto price tracker with this pattern, code is on GitHub",
            "the Telegram bot API has the same rate limits problem",
            "we got a spam wave of fake support phone numbers on our own forum last year",
        ],
        "link": [
            "https://docs.python.org/3/library/asyncio-task.html", "https://doc.rust-lang.org/book/",
            "https://www.postgresql.org/docs/current/indexes.html", "https://git-scm.com/docs/git-rebase",
            "https://github.com/pallets/flask/issues", "https://developer.mozilla.org/en-US/docs/Web/HTTP",
            "https://stackoverflow.com/questions/tagged/python-asyncio",
        ],
    },
    "travel": {
        "thing": [
            "the night train", "the hostel you mentioned", "the hut booking", "the rental car",
            "the rail pass", "the ferry", "the old town", "the food market", "the second day's hike",
        ],
        "alt": [
            "a bus pass", "an e-bike", "a campervan", "a guided tour", "a shoulder-season trip",
            "a local SIM card", "an overnight bus",
        ],
        "when": [
            "last September", "in 2019", "with two kids", "on our honeymoon", "over Easter",
            "solo last spring", "in the rain",
        ],
        "outcome": [
            "it was the highlight of the trip", "we missed the last connection",
            "it was much busier than expected", "the views were unreal",
            "we ended up staying an extra night", "it snowed on the pass",
        ],
        "fact": [
            "the trains between Porto and Lisbon need a seat reservation on some services",
            "many huts only take cash", "the museum is closed on Mondays",
            "the road north of Akureyri often closes in storms",
        ],
        "price": [
            "we paid about 120 euros for the pass", "the ryokan was $180 a night but worth every cent",
            "lunch at the market was under $5", "saved around $200 by booking early",
        ],
        "side": [
            "most guesthouses there answer on WhatsApp faster than by email",
            "cheap flights are gone by March, book early",
            "we paid cash almost everywhere, cards were hit and miss",
        ],
        "link": [
            "https://en.wikipedia.org/wiki/Dolomites", "https://www.openstreetmap.org/",
            "https://en.wikipedia.org/wiki/Rail_transport_in_Portugal", "https://wikitravel.org/en/Kyoto",
        ],
    },
    "gardening": {
        "thing": [
            "the tomato seedlings", "the compost heap", "the climbing rose", "the raised bed",
            "the bean pods", "the wildflower seed mix", "the drip irrigation", "the mulch",
        ],
        "alt": [
            "grow bags", "a worm bin", "leaf mould", "pallet wood", "comfrey tea",
            "clover as ground cover", "a soaker hose",
        ],
        "when": [
            "this spring", "last year", "on my balcony", "in heavy clay soil", "after the frost",
            "in a north-facing garden", "at our allotment",
        ],
        "outcome": [
            "the yield doubled", "blight got most of them", "the bees arrived within a week",
            "it finally stopped smelling", "the slugs got there first", "it flowered twice",
        ],
        "fact": [
            "tomatoes need a deep pot of at least 20 litres", "fresh grass clippings heat a heap fast",
            "most roses flower on new wood", "beans cross-pollinate less than squash",
        ],
        "price": [
            "the raised bed kit was $60", "seed packets are 50% off online this week",
            "I spent $15 on seeds and grew far too much",
            "a water butt costs about $40 and pays for itself",
        ],
        "side": [
            "the garden centre has a buy one get one free offer on compost now",
            "our allotment group organises seed swaps on WhatsApp",
            "I sell spare seedlings for a little cash at the gate",
        ],
        "link": [
            "https://en.wikipedia.org/wiki/Compost", "https://www.rhs.org.uk/",
            "https://en.wikipedia.org/wiki/Heirloom_plant",
            "https://en.wikipedia.org/wiki/Companion_planting",
        ],
    },
}
HAM_OPENERS = [
    "", "", "", "Hi {owner}, ", "Thanks for this! ", "Great write-up. ", "Hello! ", "Long-time reader. ",
    "Quick question: ", "Love this. ", "Hmm, ", "Ok so ", "This is so helpful. ",
]
# The later ones use words spam also uses (best, online, now, free, check, site): ham does too.
HAM_SENTENCES = [
    "I tried this {when} and {outcome}.", "Made it {when}: {outcome}.",
    "Could I use {alt} instead of {thing}?", "Does {thing} work with {alt}, or is that a bad idea?",
    "How long did {thing} take you?", "Small correction: {fact}.",
    "I'm not sure I agree about {thing}. In my experience {outcome}.",
    "Respectfully, I think the part about {thing} is off, because {fact}.", "Tip for others: {fact}.",
    "For what it's worth, {price}.", "Money-wise, {price}, so check before you buy.",
    "The reference I used is {link}", "There is a good explanation here: {link}",
    "Worth reading alongside this: <a href=\"{link}\">this page</a>.",
    "We switched to {alt} {when} and {outcome}.", "Anyone else find that {outcome}?",
    "My only issue was {thing}, otherwise {outcome}.",
    "You are right that {fact}, I learned that the hard way.", "I wish I had known earlier that {fact}.",
    "Bookmarking this, the section on {thing} finally made it click.",
    "Best advice on {thing} I've found online so far.", "Now I know why {outcome}.",
    "Your tip about {thing} saved me: {outcome}.",
    "I like that you explain {thing} instead of just listing steps.",
    "Is {alt} worth buying? Prices online are all over the place.",
    "I wrote up my own attempt on my site: {own}", "Free advice for anyone new: {fact}.",
    "Check out {link} too, it is free and well written.", "Side note: {side}.",
]
HAM_CLOSERS = [
    "", "", "", " Thanks!", " Cheers.", " Thank you so much.", " :)", " 🙂", " Keep it up!",
    " Thanks again, {owner}.", " Greetings from {city}.", " - {first}", " x",
]
HAM_SHORT = [
    "Thank you!", "Brilliant, thanks.", "Saved for later.", "This is exactly what I needed.",
    "Great post, thanks!", "Wow.", "THANK YOU!!", "So good.", "Made this, loved it.",
    "Very clear, thanks.", "Great post!", "Very informative.", "Nice article, thanks for sharing.",
    "Keep up the good work!",
]
OWNER_REPLIES = [
    "Thanks {name}! {fact_cap}.", "Good question {name}: yes, {alt} works, {outcome_short}.",
    "Glad it worked, {name}!", "Thanks for the correction, {name}, I've updated the post.",
    "Hi {name}, I'd avoid {alt} there, {fact}.",
]
CITIES = [
    "Leeds", "Porto", "Lyon", "Austin", "Pune", "Cork", "Gdansk", "Osaka", "Nairobi", "Bogota", "Perth",
]
FIRST = [
    "Anna", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Katja", "Luis",
    "Maya", "Nikhil", "Olu", "Priya", "Quentin", "Rosa", "Sam", "Tomasz", "Uma", "Viktor", "Wen", "Yusuf",
    "Zoe", "Aisha", "Bruno", "Carmen", "Dave", "Emeka", "Fatima", "Giulia", "Hannah", "Ivan", "Jess",
]
LAST = [
    "Novak", "Okafor", "Schmidt", "Tanaka", "Garcia", "Kowalski", "Haddad", "Murphy", "Silva", "Chen",
    "Rossi", "Nguyen", "Johansson", "Patel", "Brown", "Moreau", "Fischer", "Costa", "Ali", "Kim",
]
HANDLE_WORDS = [
    "gardener", "coder", "baker", "nomad", "dev", "cook", "hiker", "tinkerer", "plotholder", "pythonista",
]
FREE_MAIL = [
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de", "aol.com",
]
SPAM_MAIL = ["gmail.com", "outlook.com", "mail.ru", "yandex.ru", "hotmail.com", "yahoo.com"]
DISPOSABLE = [
    "mailinator.com", "yopmail.com", "guerrillamail.com", "sharklasers.com", "10minutemail.com",
    "trashmail.com", "dispostable.com",
]
COMPANY_A = [
    "brightleaf", "northgate", "copperkettle", "tidewater", "stonebridge", "redwillow", "ironbark",
    "fieldnote", "quillstack", "lakeshore",
]
COMPANY_B = ["labs", "studio", "consulting", "media", "software", "design", "analytics", "foods"]
COMPANY_TLD = [".com", ".io", ".co.uk", ".de", ".net", ".nl"]
# Made-up promoted domains are SPAM_A-SPAM_B+SPAM_C+SPAM_TLD.
SPAM_A = [
    "cheap", "best", "top", "buy", "discount", "fast", "easy", "mega", "lucky", "royal", "smart", "vip",
]
SPAM_B = [
    "pills", "meds", "pharma", "loans", "cash", "casino", "slots", "bet", "crypto", "coin", "seo",
    "backlinks", "replica-watches", "essays", "followers", "keto",
]
SPAM_C = ["online", "shop", "store", "24", "hub", "pro", "now", "zone", "", "-deals", "-rx"]
SPAM_TLD = [
    ".xyz", ".top", ".ru", ".online", ".site", ".club", ".info", ".biz", ".com", ".net", ".shop", ".pw",
]
SHORTENERS = ["bit.ly", "tinyurl.com", "is.gd", "cutt.ly", "rb.gy", "goo.gl"]
KEYWORDS = [
    "Best Cheap Viagra", "payday loans online", "buy cialis", "SEO Services", "Crypto Recovery Expert",
    "online casino bonus", "replica watches", "cheap essay writing", "keto gummies",
    "Buy Instagram Followers", "bad credit loans", "Bitcoin Investment", "web design company",
    "cheap flights",
]
SPAM_PRODUCTS = [
    "viagra", "cialis", "casino", "payday loans", "replica watches", "keto pills", "slot games",
    "instant loans", "essay writing", "weight loss pills", "backlinks", "forex signals",
]
FLATTERY = [
    "Great post!", "Very informative.", "Nice article, thanks for sharing.", "I like your blog.",
    "This is a really good read.", "Awesome content!", "Your website is very helpful.",
    "I have been browsing online more than three hours today, yet I never found any article like yours.",
    "Hello admin, your site is great.", "Wonderful blog post, I will bookmark it.",
    "Keep up the good work!",
]
FLATTERY_END = [
    "Check my site too.", "Please visit my website.", "I also have a blog, have a look.",
    "Can you add a link back?", "Would you like to exchange links?", "Hope to see more posts.",
    "Shared it with my friends.", "Thanks!", "",
]
RECRUIT_STORY = [
    "I lost a lot trying to trade on my own until I met", "Big thanks to",
    "I was skeptical at first but I now earn weekly profits with",
    "If you are struggling financially, reach out to", "My life changed when I started investing with",
    "Stop wasting time on savings accounts and contact",
]
RECRUIT_WHO = [
    "Mrs. Sarah Johnson", "Mr. David Allen", "expert trader Jennifer", "Mrs Linda Carter",
    "account manager Kelvin", "investment coach Amelia Wright", "Mr Robert Hayes",
]
RECRUIT_PROFIT = [
    "I made $4,700 in my first week", "I now earn $15,000 every month",
    "I turned $500 into $6,200 in 10 days", "my $1,000 became $9,850", "she helped me recover my lost BTC",
]
SUPPORT_BRANDS = [
    "Coinbase", "Binance", "MetaMask", "Trust Wallet", "PayPal", "Cash App", "Norton", "QuickBooks",
    "Yahoo Mail", "Facebook",
]
CONTACT = [
    "WhatsApp {phone}", "Telegram @{handle}", "WhatsApp: {phone}", "telegram: {handle}",
    "Instagram @{handle}", "email {handle}@{mail}", "WhatsApp {phone} or telegram @{handle}",
]
# Ranges reserved for fiction: NANP 555-01xx, UK 07700 900xxx, Australia 0491 570 xxx.
PHONES = [
    "+1 (805) 555-01{n:02d}", "+1-202-555-01{n:02d}", "+44 7700 900{n:03d}", "+61 491 570 {n:03d}",
    "1-888-555-01{n:02d}", "+1 415 555 01{n:02d}",
]
LINKBACKS = ("pingback", "trackback")
# Sites whose comment form has a hidden honeypot field (the recipes site does not).
HONEYPOT_SITES = ("blog.example.org", "forum.example.net")
CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "i": "і", "y": "у"})
UA_HUMAN = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
    "Safari/537.36 Edg/{v}.0.0.0",
]
UA_BOT = [
    "python-requests/2.{m}.0",
    "curl/7.{v}.0",
    "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{v}.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:40.0) Gecko/20100101 Firefox/40.1",
]
# Kinds of spam and how often each is drawn.
SPAM_KINDS = {
    "seo": 16,
    "short": 9,
    "flattery": 18,
    "recruit": 14,
    "support": 8,
    "casino": 10,
    "topical": 10,
    "tiny": 9,
    "caps": 6,
    "copied": 8,
}
# fmt: on


@dataclass
class Post:
    """A post comments are written under."""

    site: str
    topic: str
    post_id: str
    url: str
    published: datetime


def make_posts(rng: random.Random) -> list[Post]:
    """Return the posts of every site, published over the period."""
    posts = []
    for site, topics in SITES.items():
        titles = [(topic, title) for topic in topics for title in POSTS[topic]]
        for (topic, title), post_id in zip(titles, rng.sample(range(100, 9999), len(titles)), strict=True):
            slug = "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())
            published = START + timedelta(days=rng.uniform(-60, 150))
            url = f"https://{site}/{published:%Y/%m}/{slug}/"
            posts.append(Post(site, topic, str(post_id), url, published))
    return posts


def fill(rng: random.Random, template: str, topic: str, used: set[str] | None = None, **extra: str) -> str:
    """Fill a template's {slots} from the topic's fragments, avoiding fragments already `used`."""
    used = set() if used is None else used
    values = {}
    for key, bank in TOPIC[topic].items():
        values[key] = rng.choice([fragment for fragment in bank if fragment not in used] or bank)
        if "{" + key + "}" in template:
            used.add(values[key])
    values |= {"city": rng.choice(CITIES), "first": rng.choice(FIRST), **extra}
    return template.format(**values)


def capitalised(text: str) -> str:
    """Return the text with its first letter in upper case."""
    return text[:1].upper() + text[1:]


def ham_text(rng: random.Random, post: Post, own_url: str = "") -> str:
    """Return an on-topic comment by a reader: questions, thanks, disagreements, corrections."""
    owner = OWNERS[post.site]
    closer = fill(rng, rng.choice(HAM_CLOSERS), post.topic, owner=owner)
    if rng.random() < 0.08:
        outcome = capitalised(rng.choice(TOPIC[post.topic]["outcome"]))
        return rng.choice(HAM_SHORT) + rng.choice(["", f" {outcome}.", closer])
    parts = [fill(rng, rng.choice(HAM_OPENERS), post.topic, owner=owner)]
    used: set[str] = set()
    templates = [t for t in HAM_SENTENCES if own_url or "{own}" not in t]
    for template in rng.sample(templates, rng.choice([1, 1, 2, 2, 2, 3, 4])):
        sentence = fill(rng, template, post.topic, used, own=own_url) + " "
        if parts[-1].endswith((", ", "so ")) and not sentence.startswith("I "):
            sentence = sentence[0].lower() + sentence[1:]  # "Hmm, we tried", not "Hmm, We tried"
        parts.append(sentence)
    text = " ".join(word for word in "".join([*parts, closer]).split(" ") if word)
    if rng.random() < 0.1:
        text = text.lower().replace("'", "")
    if rng.random() < 0.05:
        text = text.replace(". ", ".\n\n", 1)
    return text


def owner_reply(rng: random.Random, post: Post, name: str) -> str:
    """Return the site owner's answer to a reader."""
    bank = TOPIC[post.topic]
    fact = rng.choice(bank["fact"])
    return rng.choice(OWNER_REPLIES).format(
        name=name.split()[0],
        fact=fact,
        fact_cap=capitalised(fact),
        alt=rng.choice(bank["alt"]),
        outcome_short=rng.choice(bank["outcome"]),
    )


def spam_domain(rng: random.Random) -> str:
    """Return a made-up domain of the kind link spam promotes."""
    return rng.choice(SPAM_A) + "-" + rng.choice(SPAM_B) + rng.choice(SPAM_C) + rng.choice(SPAM_TLD)


def short_link(rng: random.Random) -> str:
    """Return a shortened link with a random code."""
    code = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(5, 8)))
    return f"{rng.choice(['https://', 'http://', ''])}{rng.choice(SHORTENERS)}/{code}"


def disguise(rng: random.Random, word: str) -> str:
    """Hide a keyword from naive filters: Cyrillic look-alikes, HTML entities or spacing."""
    trick = rng.randrange(4)
    if trick == 0:
        return "".join(c.translate(CYRILLIC) if rng.random() < 0.6 else c for c in word)
    if trick == 1:
        i = rng.randrange(len(word))
        return word[:i] + f"&#{ord(word[i])};" + word[i + 1 :]
    if trick == 2:
        return ".".join(word) if len(word) < 8 else word.upper()
    return word.replace(" ", "&nbsp;")


def phone(rng: random.Random) -> str:
    """Return a phone number from a range reserved for fiction."""
    return rng.choice(PHONES).format(n=rng.randint(0, 99))


def handle(rng: random.Random) -> str:
    """Return a contact handle of the kind scam recruiters post."""
    name = rng.choice(["sarah", "david", "jenny", "kelvin", "amelia", "robert", "linda", "crypto", "fx"])
    suffix = rng.choice(["_trades", "fx", "_invest", "official", "_mgr", ".help", "_support"])
    return f"{name}{suffix}{rng.randint(1, 999)}"


def spam_text(rng: random.Random, post: Post) -> tuple[str, str]:
    """Return (kind, text) of a spam comment."""
    kind = rng.choices(list(SPAM_KINDS), weights=list(SPAM_KINDS.values()))[0]
    product = rng.choice(SPAM_PRODUCTS)
    domain = spam_domain(rng)
    if kind == "seo":
        products = rng.sample(SPAM_PRODUCTS, rng.randint(1, 4))
        links = [
            f'<a href="http://{spam_domain(rng)}/">{rng.choice([disguise(rng, p), p])}</a>' for p in products
        ]
        lead = rng.choice(["", "Buy now: ", "Best prices: ", "Hot deals ", f"{rng.choice(FLATTERY)} "])
        return kind, lead + rng.choice([" ", ", ", " | ", "\n"]).join(links)
    if kind == "short":
        call = rng.choice(["Check this", "Look", "You will like this", "Free gift"])
        parts = [rng.choice(FLATTERY), f"{call}:", short_link(rng)]
        return kind, " ".join(parts[rng.randrange(2) :])
    if kind == "flattery":
        parts = [*rng.sample(FLATTERY, rng.randint(1, 3)), rng.choice(FLATTERY_END)]
        if rng.random() < 0.4:
            parts.append(
                rng.choice([f"http://{domain}", f"www.{domain}", f'<a href="https://{domain}">{product}</a>'])
            )
        return kind, " ".join(p for p in parts if p)
    if kind == "recruit":
        contact = rng.choice(CONTACT).format(phone=phone(rng), handle=handle(rng), mail=rng.choice(SPAM_MAIL))
        story = f"{rng.choice(RECRUIT_STORY)} {rng.choice(RECRUIT_WHO)}, {rng.choice(RECRUIT_PROFIT)}."
        tail = rng.choice(["Contact her on", "Reach him on", "Message on", "Contact:", "Get in touch via"])
        return kind, f"{story} {tail} {contact}"
    if kind == "support":
        brand, number = rng.choice(SUPPORT_BRANDS), phone(rng)
        texts = [
            f"{brand} customer support number {number} call now 24/7",
            f"Having trouble with {brand}? Call the {brand} helpline {number} (toll free)",
            f"Contact {brand} support phone number ☎ {number} for instant help",
            f"{brand.upper()} SUPPORT {number} USA CANADA 24X7",
        ]
        return kind, rng.choice(texts)
    if kind == "casino":
        bonus = rng.choice(["200% bonus", "100 free spins", "$500 welcome bonus", "no deposit bonus"])
        game = disguise(rng, rng.choice(["casino", "slots", "poker", "betting"]))
        url = rng.choice([f"https://{domain}", short_link(rng), f"www.{domain}"])
        texts = [
            f"Best online {game} {bonus} sign up {url}",
            f"Play {game} today, {bonus}! {url}",
            f"{bonus.upper()} at {game} {url} win real money",
        ]
        return kind, rng.choice(texts)
    if kind == "topical":
        # Looks on-topic, then promotes something: hard for a filter that only reads the topic.
        opener = fill(rng, rng.choice(HAM_SENTENCES[:5] + HAM_SENTENCES[14:16]), post.topic)
        promos = [
            f'I found great deals on {product} <a href="https://{domain}">here</a>.',
            f"By the way, if you need {product}, check {short_link(rng)}",
            f"For the best {product} visit {domain}",
            f"btw we sell {product} cheap: http://{domain}",
        ]
        return kind, f"{opener} {rng.choice(promos)}"
    if kind == "copied":
        # A reader's comment copied or spun from elsewhere: the promotion is only in author_url.
        return kind, ham_text(rng, post).replace("I ", rng.choice(["I ", "I ", "i "]))
    if kind == "tiny":
        # Short, polite, no link: the promotion is only in author_url.
        words = [
            *FLATTERY[:6],
            "Nice",
            "I like it",
            "thanks for sharing",
            "Hello admin",
            "Very good",
            "Interesting",
        ]
        return kind, rng.choice(words) + rng.choice(["", "!", ".", " :)", "!!"])
    shout = rng.choice(
        ["MAKE $5000 A WEEK FROM HOME", "EARN $300 DAILY", "FREE IPHONE 15 GIVEAWAY", "LOSE 10 KG IN 7 DAYS"]
    )
    call = rng.choice(["CLICK", "VISIT", "JOIN NOW"])
    return kind, f"{shout}!!! {call} {rng.choice([short_link(rng), domain.upper()])}"


def human_name(rng: random.Random) -> tuple[str, str, str]:
    """Return (display name, first, last) as people type them into comment forms."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    shapes = [
        f"{first} {last}",
        first,
        f"{first} {last[0]}.",
        f"{first.lower()}_{rng.choice(HANDLE_WORDS)}",
        f"{first.lower()} {last[0].lower()}",
        f"{first}{rng.randint(1, 99)}",
    ]
    return rng.choice(shapes), first, last


def human_email(rng: random.Random, first: str, last: str) -> str:
    """Return an address a real reader would use: free mail or work."""
    local = rng.choice([f"{first}.{last}", f"{first}{last}{rng.randint(1, 99)}", f"{first[0]}{last}", first])
    if rng.random() < 0.25:
        domain = rng.choice(COMPANY_A) + rng.choice(COMPANY_B) + rng.choice(COMPANY_TLD)
    else:
        domain = rng.choice(FREE_MAIL)
    return f"{local.lower()}@{domain}"


def human_url(rng: random.Random, first: str, last: str) -> str:
    """Return a reader's own site: a GitHub profile, a personal blog or a company site."""
    name = f"{first}{last}".lower()
    urls = [
        f"https://github.com/{name}",
        f"https://{name}.dev",
        f"https://{first.lower()}{last[0].lower()}.blog",
        f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{rng.randint(10, 999)}",
        f"https://{rng.choice(COMPANY_A)}{rng.choice(COMPANY_B)}.com/",
        f"http://{name}.wordpress.com",
    ]
    return rng.choice(urls)


def spam_identity(rng: random.Random, kind: str) -> tuple[str, str, str]:
    """Return (author name, e-mail, url) of a spammer; the e-mail and url may be empty."""
    domain = spam_domain(rng)
    human, first, last = human_name(rng)
    gibberish = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 12)))
    brand = f"{rng.choice(SUPPORT_BRANDS)} Support" if kind == "support" else human
    keyword = rng.choice(KEYWORDS)
    names = [keyword, human, f"{human} | {keyword.lower()}", domain, gibberish, brand]
    name = rng.choices(names, weights=[30, 35, 8, 7, 8, 12])[0]
    local = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(7, 14)))
    emails = [
        f"{local}@{rng.choice(DISPOSABLE)}",
        f"{local}@{rng.choice(SPAM_MAIL)}",
        f"{name.split()[0].lower().strip('|.')}{rng.randint(1, 2024)}@{rng.choice(SPAM_MAIL)}",
        f"info@{domain}",
        f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(FREE_MAIL)}",
        "",
    ]
    email = rng.choices(emails, weights=[25, 30, 12, 14, 14, 5])[0]
    path = rng.choice(["", "", "buy-online.html", f"index.php?id={rng.randint(1, 999)}", "promo/"])
    url = rng.choices([f"http://{domain}/{path}", short_link(rng), ""], weights=[62, 8, 30])[0]
    return name, email, url


def ip_address(rng: random.Random) -> str:
    """Return an address from the documentation ranges (RFC 5737 and RFC 3849)."""
    if rng.random() < 0.22:
        return "2001:db8:" + ":".join(f"{rng.randrange(65536):x}" for _ in range(6))
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(1, 254)}"


def user_agent(rng: random.Random, bot: bool) -> str:
    """Return a browser user agent, or a script's when `bot` is set."""
    return rng.choice(UA_BOT if bot else UA_HUMAN).format(v=rng.randint(100, 126), m=rng.randint(0, 6))


def comment_time(rng: random.Random, post: Post, spam: bool) -> datetime:
    """Return when a comment arrived: readers soon after the post and by day, spam at any time later."""
    start = max(post.published, START)
    if not spam:
        for _ in range(20):
            when = start + timedelta(days=rng.expovariate(1 / 9), hours=rng.uniform(0, 24))
            if when < END and (when.hour >= 7 or rng.random() < 0.3):
                return when
    return start + (END - start) * rng.random()


def ham_record(rng: random.Random, post: Post) -> dict:
    """Return a reader's comment (without id) on a post."""
    name, first, last = human_name(rng)
    url = human_url(rng, first, last) if rng.random() < 0.25 else ""
    referrers = [
        post.url,
        post.url,
        post.url,
        post.url,
        f"{post.url}#comments",
        "",
        "https://www.google.com/",
    ]
    record = {
        "content": ham_text(rng, post, url),
        "author_name": name,
        "author_email": human_email(rng, first, last) if rng.random() < 0.92 else "",
        "author_url": url,
        "author_ip": ip_address(rng),
        "user_agent": user_agent(rng, bot=False),
        "referrer": rng.choice(referrers),
        # A median of about 45 s: people read before they write.
        "time_on_page_ms": int(min(rng.lognormvariate(10.7, 0.7), 1_200_000))
        if rng.random() < 0.85
        else None,
    }
    if post.site == "forum.example.net" and rng.random() < 0.3:
        record["comment_type"] = "forum-post"
    return record


def spam_record(rng: random.Random, post: Post, bot_ips: list[str]) -> dict:
    """Return a spam comment (without id) on a post."""
    kind, text = spam_text(rng, post)
    name, email, url = spam_identity(rng, kind)
    if kind in ("tiny", "copied") and not url:
        url = f"http://{spam_domain(rng)}/"
    speed = rng.random()
    if speed < 0.15:
        time_on_page = None
    elif speed < 0.65:
        time_on_page = rng.randint(120, 3000)
    elif speed < 0.85:
        time_on_page = rng.randint(3000, 15000)
    else:  # paid human spammers take as long as readers
        time_on_page = rng.randint(20000, 150000)
    record = {
        "content": text,
        "author_name": name,
        "author_email": email,
        "author_url": url,
        "author_ip": rng.choice(bot_ips) if rng.random() < 0.5 else ip_address(rng),
        "user_agent": user_agent(rng, bot=rng.random() < 0.35) if rng.random() < 0.95 else "",
        "referrer": rng.choice(
            ["", "", "", post.url, post.url, f"https://{post.site}/", "https://www.google.com/"]
        ),
        "time_on_page_ms": time_on_page,
    }
    if rng.random() < 0.1 and post.site in HONEYPOT_SITES:
        record["honeypot"] = rng.choice([f"http://{spam_domain(rng)}", name, "1", email or "admin"])
    return record


def linkback_record(rng: random.Random, post: Post, spam: bool) -> dict:
    """Return a pingback or trackback: another blog saying it links to the post."""
    if spam:
        product = rng.choice(SPAM_PRODUCTS)
        name = rng.choice(KEYWORDS)
        url = f"http://{spam_domain(rng)}/{product.replace(' ', '-')}/"
        texts = [
            f"[...] {disguise(rng, product)} [...] read more at {url}",
            f"{name}: [...] great article about {product} [...]",
            f"[...] {product} [...]",
        ]
        text, agent = rng.choice(texts), user_agent(rng, bot=True)
    else:
        blog = rng.choice(COMPANY_A) + rng.choice(["notes", "kitchen", "journal", "bytes", "garden", "diary"])
        name = capitalised(blog)
        page = f"{rng.choice(['roundup', 'links', 'weekly'])}-{rng.randint(1, 40)}"
        url = f"https://{blog}.com/2024/{rng.randint(1, 6):02d}/{page}/"
        texts = [
            "[…] {fact}, as explained over at {site} […]",
            "[…] I tried this and {outcome} […]",
            "[…] more on {thing} in this post […]",
        ]
        text = fill(rng, rng.choice(texts), post.topic, site=post.site)
        agent = f"WordPress/6.{rng.randint(2, 5)}.{rng.randint(0, 3)}; https://{blog}.com"
    return {
        "content": text,
        "author_name": name,
        "author_email": "",
        "author_url": url,
        "author_ip": ip_address(rng),
        "user_agent": agent,
        "time_on_page_ms": None,
        "comment_type": rng.choice(LINKBACKS),
    }


def owner_record(rng: random.Random, post: Post, parent: dict) -> dict:
    """Return the site owner's reply to a reader's comment."""
    owner = OWNERS[post.site]
    return {
        "content": owner_reply(rng, post, parent["author_name"]),
        "author_name": owner,
        "author_email": f"{owner.lower()}@{post.site}",
        "author_url": f"https://{post.site}/",
        "author_ip": OWNER_IPS[post.site],
        "user_agent": user_agent(rng, bot=False),
        "referrer": f"https://{post.site}/wp-admin/edit-comments.php",
        "time_on_page_ms": None,
        "comment_type": "reply",
        "_parent": parent,
        "_time": min(parent["_time"] + timedelta(hours=rng.uniform(0.5, 48)), END),
    }


def drafts(rng: random.Random, total: int) -> list[dict]:
    """Return `total` comments without ids, about SPAM_SHARE of them spam, all texts distinct."""
    posts = make_posts(rng)
    bot_ips = [ip_address(rng) for _ in range(40)]
    wanted = {"spam": round(total * SPAM_SHARE), "ham": total - round(total * SPAM_SHARE)}
    made = {"spam": 0, "ham": 0}
    seen: set[str] = set()
    out: list[dict] = []
    while len(out) < total:
        spam = made["spam"] < wanted["spam"] and (made["ham"] >= wanted["ham"] or rng.random() < SPAM_SHARE)
        post = rng.choice(posts)
        if rng.random() < (0.06 if spam else 0.03):
            record = linkback_record(rng, post, spam)
        elif spam:
            record = spam_record(rng, post, bot_ips)
        else:
            record = ham_record(rng, post)
        record |= {"label": "spam" if spam else "ham", "_post": post, "_time": comment_time(rng, post, spam)}
        if "comment_type" not in record and rng.random() < (0.1 if spam else 0.15):
            record["comment_type"] = "reply"
        batch = [record]
        if not spam and "comment_type" not in record and rng.random() < 0.12:
            batch.append(owner_record(rng, post, record) | {"label": "ham", "_post": post})
        for draft in batch:
            if draft["content"] in seen or made[draft["label"]] >= wanted[draft["label"]]:
                break  # a reply is kept only with the comment it answers
            seen.add(draft["content"])
            made[draft["label"]] += 1
            out.append(draft)
    return out


def build(rng: random.Random, total: int) -> list[dict]:
    """Return `total` comments in time order, with ids, replies and all fields of contract section 1."""
    records = []
    earlier: dict[str, list[dict]] = {}  # post url: comments so far, for replies
    for number, draft in enumerate(sorted(drafts(rng, total), key=lambda d: d["_time"]), 1):
        post: Post = draft["_post"]
        draft["id"] = f"demo-{number:06d}"
        parent = draft.get("_parent")
        kind = draft.get("comment_type", "comment")
        if kind == "reply" and parent is None:
            candidates = [d for d in earlier.get(post.url, []) if d.get("comment_type") not in LINKBACKS]
            parent = rng.choice(candidates) if candidates else None
            if parent and rng.random() < 0.4:
                draft["content"] = f"@{parent['author_name'].split()[0]} {draft['content']}"
        earlier.setdefault(post.url, []).append(draft)
        record = {
            "id": draft["id"],
            "site": post.site,
            "content": draft["content"],
            "author_name": draft["author_name"],
            "author_email": draft["author_email"],
            "author_url": draft["author_url"],
            "author_ip": draft["author_ip"],
            "user_agent": draft["user_agent"],
            "referrer": draft.get("referrer"),
            "permalink": post.url,
            "post_id": post.post_id,
            "parent_id": parent["id"] if parent else None,
            "comment_type": "comment" if kind == "reply" and not parent else kind,
            "language": "en" if rng.random() < 0.9 else None,
            "created_at": draft["_time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "honeypot": draft.get("honeypot", "" if post.site in HONEYPOT_SITES else None),
            "time_on_page_ms": draft["time_on_page_ms"],
            "label": draft["label"],
        }
        records.append({key: value for key, value in record.items() if value is not None})
    if len({r["content"] for r in records}) != len(records):
        raise RuntimeError("two comments have the same text")
    return records


def main() -> None:
    """Write the demo corpus and print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the JSON Lines file")
    parser.add_argument("--count", type=int, default=TOTAL, help="number of comments")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args()
    records = build(random.Random(args.seed), args.count)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    spam = sum(r["label"] == "spam" for r in records)
    print(f"wrote {len(records)} comments ({spam} spam, {len(records) - spam} ham) to {args.out}")


if __name__ == "__main__":
    main()
