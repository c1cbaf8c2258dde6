//! Typed instructions: one struct per instruction, built from the syntax tree, words still unexpanded.
