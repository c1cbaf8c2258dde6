//! Docker-style random container names (`adjective_surname`) and the rule a given name must follow.

use super::ContainerError;

#[rustfmt::skip]
const ADJECTIVES: &[&str] = &[
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
    "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
    "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent",
    "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
    "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
    "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
];

#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage",
    "banach", "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "bhaskara", "blackwell", "bohr", "booth",
    "borg", "bose", "boyd", "brahmagupta", "brattain", "brown", "carson", "cartwright", "cerf", "chandrasekhar",
    "chatelet", "chaum", "clarke", "colden", "cori", "cray", "curie", "darwin", "davinci", "dijkstra",
    "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein", "elion", "engelbart", "euclid", "euler",
    "faraday", "feistel", "fermat", "fermi", "feynman", "franklin", "gagarin", "galileo", "gauss", "germain",
    "goldberg", "goldstine", "goldwasser", "goodall", "hamilton", "haslett", "hawking", "heisenberg",
    "hellman", "hermann", "hodgkin", "hofstadter", "hopper", "hugle", "hypatia", "jackson", "jang", "jennings",
    "jepsen", "johnson", "joliot", "jones", "kalam", "kapitsa", "keller", "kepler", "khorana", "kilby",
    "kirch", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lehmann", "lewin",
    "lichterman", "liskov", "lovelace", "lumiere", "mahavira", "margulis", "matsumoto", "maxwell", "mayer",
    "mccarthy", "mcclintock", "meitner", "mendel", "mendeleev", "merkle", "mirzakhani", "montalcini",
    "moore", "morse", "moser", "napier", "nash", "neumann", "newton", "nightingale", "nobel", "noether",
    "northcutt", "noyce", "panini", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare",
    "poitras", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "robinson", "roentgen", "rosalind",
    "saha", "sammet", "shamir", "shannon", "shaw", "shirley", "shockley", "sinoussi", "snyder", "spence",
    "stonebraker", "sutherland", "swanson", "swartz", "swirles", "taussig", "tesla", "thompson", "torvalds",
    "turing", "varahamihira", "vaughan", "villani", "visvesvaraya", "volhard", "wescoff", "wiles",
    "williams", "wilson", "wing", "wozniak", "wright", "wu", "yalow", "yonath", "zhukovsky",
];

/// A random `adjective_surname`; `attempt` > 0 appends a digit as docker does after a collision.
pub fn random(attempt: u32, random: &[u8; 4]) -> String {
    let a = ADJECTIVES[usize::from(u16::from_le_bytes([random[0], random[1]])) % ADJECTIVES.len()];
    let s = SURNAMES[usize::from(u16::from_le_bytes([random[2], random[3]])) % SURNAMES.len()];
    // Docker's own exception: Steve Wozniak is not boring.
    let a = if a == "boring" && s == "wozniak" { "brave" } else { a };
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{}", random[0] % 10)
    }
}

/// Docker's rule for `--name`: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is accepted and dropped).
pub fn validate(name: &str) -> Result<String, ContainerError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && bare.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(bare.to_string())
    } else {
        Err(ContainerError::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert_eq!(validate("web").unwrap(), "web");
        assert_eq!(validate("/web-1.a_b").unwrap(), "web-1.a_b");
        for bad in ["", "a", "-web", "we b", "web/x", "ünï"] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn random_names_are_valid_and_vary_by_input() {
        let a = random(0, &[1, 2, 3, 4]);
        assert!(validate(&a).is_ok(), "{a}");
        assert!(a.contains('_'));
        assert_ne!(a, random(0, &[9, 9, 9, 9]));
        assert!(random(1, &[1, 2, 3, 4]).starts_with(&a));
    }
}
