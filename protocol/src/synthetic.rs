//! A built-in synthetic instruction dataset, so that the demo and the tests run offline:
//! templated arithmetic word problems and recipe-like instructions, as OpenAI chat records.

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

const NAMES: &[&str] = &[
    "Ava", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Keiko",
    "Liam", "Maya", "Nikos", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wen", "Ximena", "Yusuf", "Zoe",
];
const ITEMS: &[(&str, &str)] = &[
    ("apple", "apples"),
    ("marble", "marbles"),
    ("book", "books"),
    ("pencil", "pencils"),
    ("cupcake", "cupcakes"),
    ("sticker", "stickers"),
    ("shell", "shells"),
    ("card", "cards"),
    ("ticket", "tickets"),
    ("plant", "plants"),
    ("brick", "bricks"),
    ("stamp", "stamps"),
];
const PLACES: &[&str] = &[
    "the market",
    "school",
    "the fair",
    "the library",
    "the beach",
    "the garden",
    "the bakery",
    "the museum",
];
const DISHES: &[&str] = &[
    "tomato soup",
    "banana bread",
    "vegetable curry",
    "pancakes",
    "lentil stew",
    "fried rice",
    "apple pie",
    "pumpkin risotto",
    "garlic noodles",
    "bean chili",
    "oat cookies",
    "lemon tart",
];
const INGREDIENTS: &[&str] = &[
    "onion",
    "garlic",
    "butter",
    "flour",
    "sugar",
    "salt",
    "olive oil",
    "eggs",
    "milk",
    "rice",
    "carrots",
    "tomatoes",
    "ginger",
    "cumin",
    "lemon juice",
    "stock",
    "cheese",
    "pepper",
];
const VERBS: &[&str] = &[
    "Chop",
    "Stir in",
    "Add",
    "Whisk",
    "Fold in",
    "Season with",
    "Sprinkle",
    "Melt",
];
const METHODS: &[&str] = &[
    "simmer for {} minutes",
    "bake for {} minutes",
    "fry for {} minutes",
    "rest for {} minutes",
    "cook gently for {} minutes",
];

/// Generates `rows` chat records (`{"messages":[user, assistant]}`), deterministic for a
/// given RNG state. About two thirds are word problems and one third recipes.
pub fn chat_records<R: Rng + ?Sized>(rows: usize, rng: &mut R) -> Vec<serde_json::Value> {
    (0..rows)
        .map(|_| {
            let (prompt, completion) = if rng.random_range(0..3) < 2 {
                word_problem(rng)
            } else {
                recipe(rng)
            };
            serde_json::json!({"messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": completion},
            ]})
        })
        .collect()
}

fn pick<'a, R: Rng + ?Sized>(rng: &mut R, items: &'a [&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

fn word_problem<R: Rng + ?Sized>(rng: &mut R) -> (String, String) {
    let a = pick(rng, NAMES);
    let b = pick(rng, NAMES);
    let (_, items) = *ITEMS.choose(rng).unwrap_or(&ITEMS[0]);
    let place = pick(rng, PLACES);
    let x: u32 = rng.random_range(3..200);
    let y: u32 = rng.random_range(2..60);
    let price: u32 = rng.random_range(2..25);
    match rng.random_range(0..4) {
        0 => (
            format!(
                "{a} has {x} {items}. {b} gives {a} {y} more {items} at {place}. How many {items} does {a} have now?"
            ),
            format!(
                "{a} starts with {x} {items}.\n{a} gets {y} more, so {x} + {y} = {}.\n#### {}",
                x + y,
                x + y
            ),
        ),
        1 => {
            let total = x + y;
            (
                format!(
                    "{a} bought {total} {items} at {place} and gave {y} of them to {b}. How many {items} are left?"
                ),
                format!(
                    "{a} had {total} {items}.\nAfter giving away {y}, {total} - {y} = {x} remain.\n#### {x}"
                ),
            )
        }
        2 => (
            format!(
                "At {place}, {a} sells {items} for ${price} each. How much money does {a} make from selling {y} {items}?"
            ),
            format!(
                "Each of the {items} costs ${price}.\nSo {y} of them bring in {y} x {price} = ${}.\n#### {}",
                y * price,
                y * price
            ),
        ),
        _ => {
            let per = rng.random_range(2..12);
            let total = per * y;
            (
                format!(
                    "{a} packs {total} {items} into boxes of {per}. How many boxes does {a} fill?"
                ),
                format!(
                    "There are {total} {items} and each box holds {per}.\nSo {a} fills {total} / {per} = {y} boxes.\n#### {y}"
                ),
            )
        }
    }
}

fn recipe<R: Rng + ?Sized>(rng: &mut R) -> (String, String) {
    let dish = pick(rng, DISHES);
    let serves: u32 = rng.random_range(2..9);
    let steps = rng.random_range(3..6);
    let mut lines = Vec::with_capacity(steps);
    for step in 1..=steps {
        let verb = pick(rng, VERBS);
        let ingredient = pick(rng, INGREDIENTS);
        let method = pick(rng, METHODS).replace("{}", &rng.random_range(2..40u32).to_string());
        lines.push(format!("{step}. {verb} the {ingredient}, then {method}."));
    }
    let prompt = match rng.random_range(0..3) {
        0 => format!("How do I make {dish} for {serves} people?"),
        1 => format!("Give me simple steps to cook {dish} that serves {serves}."),
        _ => format!("Write a short recipe for {dish} for a family of {serves}."),
    };
    (
        prompt,
        format!("Here is {dish} for {serves}:\n{}", lines.join("\n")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn same_seed_same_rows_and_rows_are_chat_records() {
        let a = chat_records(50, &mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
        let b = chat_records(50, &mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
        let c = chat_records(50, &mut rand_chacha::ChaCha20Rng::seed_from_u64(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        for row in &a {
            let messages = row["messages"].as_array().expect("messages");
            assert_eq!(messages[1]["role"], "assistant");
            assert!(!messages[1]["content"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn most_rows_are_distinct() {
        let rows = chat_records(2000, &mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
        let distinct: std::collections::HashSet<String> =
            rows.iter().map(|r| r.to_string()).collect();
        assert!(distinct.len() > 1900, "{} distinct of 2000", distinct.len());
    }
}
