"""The tools that build and check the book, run from a checkout by the Makefile (never by a notebook):

- `book.run_notebooks` (`make run`): execute every notebook into build/, build the site, print a summary table
- `book.outputs` (`make outputs`): regenerate the committed notebooks' outputs, cleaned
- `book.site` (`make site`): the offline website, from the page and index templates in `book/templates/`
- `book.notebooks`: what they share: finding the notebooks, executing one, a temporary environment
- `book.parts`: a pytest plugin: under CI a missing part (Chromium, Fashion-MNIST) fails the run

The wheel ships only `helpers` (what the notebooks import); this package stays in the checkout.
"""
