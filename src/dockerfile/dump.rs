//! The AST dump in the exact format of BuildKit's parser golden `result` files.
