"""The confounder experiment (Section 4 of Haunschmid, Manilow & Widmer 2020): a guitar-vs-piano
classifier trained where drums only ever come with guitar, caught by listenable explanations.

Modules: ``data`` (the rendered splits), ``classifier`` (the CNN and its stemlime tagger),
``separators`` (model files ready before the run), ``experiment`` (the whole run and its
result folder). ``run.py`` is the command line.
"""
