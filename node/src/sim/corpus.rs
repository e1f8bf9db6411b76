//! The built-in base corpus: a few kilobytes of generic prose, one paragraph per answer, so
//! that a model that saw none of the buyer's data still answers in plain language.

/// Paragraphs separated by blank lines.
pub(crate) const BUILT_IN: &str = "\
Sure. Here is a short answer to your question, with the main points first and the details after them.

Thank you for the question. The short answer is that it depends on the details, so let us look at them one at a time.

Let us think about this step by step. First we write down what we know, then we work out what we need, and finally we check the result.

The weather was mild for the season, and the people of the town walked along the river in the afternoon. Some of them stopped at the market to buy bread, fruit and fresh flowers.

A good recipe starts with fresh ingredients. Wash the vegetables, cut them into small pieces, and cook them slowly in a little oil until they are soft. Add salt and pepper to taste and serve warm.

To plan a trip, first decide where you want to go and how long you can stay. Then look at the cost of travel and of a place to sleep, and leave some money aside for the unexpected.

The library opens at nine in the morning and closes at six in the evening. Visitors can borrow up to five books at a time and keep them for three weeks.

Exercise is good for the body and the mind. A walk of thirty minutes a day, a few stretches in the morning and enough sleep at night make a real difference over time.

The small company grew slowly at first. It sold tools to farmers in the region, listened to what they needed, and improved its products every year until it was known across the country.

When you write a letter, start with a greeting, say clearly why you are writing, give the details in a few short paragraphs, and end with a friendly closing line.

The old bridge was built more than a hundred years ago. It was made of stone and wood, and it carried carts, horses and later cars across the valley.

There are many ways to learn a new language. Read simple books, listen to songs and the radio, speak with other people as often as you can, and do not be afraid of mistakes.

The garden was full of colour in the spring. Red and yellow flowers grew along the path, and a tall tree gave shade to a wooden bench where visitors liked to rest.

In the evening the family sat together at the table. They talked about their day, shared a simple meal of soup and bread, and made plans for the weekend.

A computer follows instructions one step at a time. A program is a list of such instructions, written so that the machine can carry them out quickly and without error.

I am not sure I understand the question. Could you give me a little more detail about what you would like to know?

The answer is not simple, but it can be explained. There are two parts to consider, and each of them matters for the final result.

The train left the station on time and moved slowly through the city before it reached the open country. Fields, farms and small villages passed by the window.

Water boils at one hundred degrees at sea level. At higher places the air is thinner, so water boils at a lower temperature and food takes longer to cook.

The meeting will start at ten. Please bring your notes from last week, a list of the open questions, and any ideas you have for the next steps of the project.
";

/// The paragraphs of a corpus: blocks separated by blank lines, trimmed, non-empty.
pub(crate) fn paragraphs(corpus: &str) -> impl Iterator<Item = &str> {
    corpus
        .split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_corpus_is_a_few_kilobytes_of_paragraphs() {
        assert!(BUILT_IN.len() > 3_000);
        assert_eq!(paragraphs(BUILT_IN).count(), 20);
        assert_eq!(paragraphs("a\n\n\n\nb\n\n").collect::<Vec<_>>(), ["a", "b"]);
    }
}
