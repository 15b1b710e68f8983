"""The bad-input table: each case writes what it needs (config files, an own corpus, a forget
list, a fake model folder, a damaged results.json) into a temporary folder, runs the `unlearn`
command line in-process and expects exit code 2 with one line on stderr that names the offending
key, row or path — no traceback, and no output folder. No case trains a model: they fail while
the config is loaded, the corpus is read or the report reads results.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn.cli import main

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
SMOKE = str(ROOT / "configs" / "experiments" / "smoke.yaml")
OWN = [{"user_id": "a", "text": "hello from a"}, {"user_id": "b", "text": "b says hi"},
       {"user_id": "a", "text": "a again"}, {"user_id": "c", "text": "c is new here", "group": "holdout"}]


# ----------------------------------------------------------------------------- setups

def write(name: str, content: str | bytes):
    """A setup writing one file (text or bytes) under the case's folder."""
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    return setup


def jsonl(*extra, rows=None, forget: str = "a\n"):
    """An own JSONL corpus (OWN plus `extra` rows; a str row is written as is) and a forget list."""
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in [*(OWN if rows is None else rows), *extra])

    def setup(tmp: Path) -> None:
        write("own.jsonl", lines)(tmp)
        write("forget.txt", forget)(tmp)
    return setup


def csv_corpus(content: str | bytes, forget: str = "a\n"):
    def setup(tmp: Path) -> None:
        write("own.csv", content)(tmp)
        write("forget.txt", forget)(tmp)
    return setup


def model_folder(**files: str | bytes):
    """A fake model folder `{tmp}/m` holding `files` (dots in names written as __)."""
    def setup(tmp: Path) -> None:
        (tmp / "m").mkdir()
        for name, content in files.items():
            write(f"m/{name.replace('__', '.')}", content)(tmp)
    return setup


def both(*setups):
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return setup


LLAMA = json.dumps({"model_type": "llama"})


def data(*overrides: str, config: str = SMOKE) -> list[str]:
    return ["data", config, *overrides, "--out", "{tmp}/out"]


def own_data(*overrides: str, source: str = "own.jsonl") -> list[str]:
    return data(f"data.source={{tmp}}/{source}", "data.forget_users={tmp}/forget.txt", *overrides)


def file_config(text: str):
    return write("bad.yaml", text)


# ----------------------------------------------------------------------------- the table
# (case id, setup or None, argv ({tmp}: the case's folder), exit code, fragment of stderr ({tmp} too))

CASES = [
    # --- config files
    ("config_missing", None, data(config="{tmp}/nope.yaml"), 2, "nope.yaml: no such config file"),
    ("config_bad_yaml", file_config("data: [1, 2\n"), data(config="{tmp}/bad.yaml"), 2, "bad.yaml: not valid YAML"),
    ("config_python_tag", file_config("name: !!python/object/apply:os.system ['echo hi']\n"),
     data(config="{tmp}/bad.yaml"), 2, "bad.yaml: not valid YAML"),
    ("config_not_mapping", file_config("- a\n- b\n"), data(config="{tmp}/bad.yaml"), 2, "top level must be a mapping"),
    ("config_unknown_key", file_config("finetune:\n  epochz: 3\n"), data(config="{tmp}/bad.yaml"), 2,
     "bad.yaml: unknown key 'finetune.epochz'"),
    ("config_wrong_type", file_config("data:\n  n_users: many\n"), data(config="{tmp}/bad.yaml"), 2,
     "bad.yaml: 'data.n_users' must be int"),
    ("config_section_not_mapping", file_config("data: 5\n"), data(config="{tmp}/bad.yaml"), 2,
     "'data' must be a mapping"),
    ("config_bad_value_in_file", file_config("data:\n  posts_per_user: 0\n"), data(config="{tmp}/bad.yaml"), 2,
     "bad.yaml: 'data.posts_per_user' must be at least 1"),
    ("unknown_method", None, data("unlearn.methods=[ga, magic]"), 2, "unknown method 'magic'"),
    ("unknown_method_section", None, data("methods.magic={lr: 1}"), 2, "unknown method 'magic' in methods.magic"),
    ("unknown_method_key", None, data("methods.ga.beta=0.1"), 2, "unknown key 'methods.ga.beta'"),
    # --- overrides
    ("override_unknown_key", None, data("data.n_user=3"), 2, "command line: unknown key 'data.n_user'"),
    ("override_no_equals", None, data("lr"), 2, "override 'lr' must look like key=value"),
    ("override_malformed_yaml", None, data("x=[1,"), 2, "command line: override 'x=[1,' is not valid YAML"),
    ("override_python_tag", None, data("x=!!python/object:os.system"), 2,
     "override 'x=!!python/object:os.system' is not valid YAML"),
    ("override_python_tag_known_key", None, data("name=!!python/name:os.system"), 2, "is not valid YAML"),
    ("override_empty_key_part", None, data("data..n_users=3"), 2, "override 'data..n_users=3' has an empty part"),
    ("override_wrong_type", None, data("finetune.lr=fast"), 2, "'finetune.lr' must be float"),
    ("override_not_a_list", None, data("seeds=5"), 2, "'seeds' must be a list"),
    ("override_bool_for_int", None, data("data.n_users=true"), 2, "'data.n_users' must be int"),
    ("override_section_value", None, data("data={n_users: 0}"), 2, "command line: 'data.n_users' is too small"),
    # --- the run name and the seeds
    ("name_traversal", None, data("name=../../x"), 2, "'name' must be a plain folder name"),
    ("name_empty", None, data('name=""'), 2, "'name' must be a plain folder name"),
    ("name_backslash", None, data("name=a\\b"), 2, "'name' must be a plain folder name"),
    ("name_dotdot", None, data("name=.."), 2, "'name' must be a plain folder name"),
    ("seeds_repeated", None, data("seeds=[0, 0]"), 2, "'seeds' lists 0 more than once"),
    ("seeds_empty", None, data("seeds=[]"), 2, "'seeds' must list at least one seed"),
    ("seeds_negative", None, data("seeds=[-1]"), 2, "'seeds' must not be negative"),
    # --- data sizes, counts and fractions
    ("n_users_zero", None, data("data.n_users=0"), 2, "'data.n_users' is too small (got 0)"),
    ("n_users_negative", None, data("data.n_users=-5"), 2, "'data.n_users' is too small (got -5)"),
    ("n_users_no_holdout", None, data("data.n_users=2"), 2, "'data.n_users' is too small (got 2)"),
    ("n_users_every_member_objects", None, data("data.n_users=6", "data.objection_rounds=5"), 2,
     "'data.n_users' is too small (got 6)"),
    ("posts_per_user_zero", None, data("data.posts_per_user=0"), 2, "'data.posts_per_user' must be at least 1, got 0"),
    ("posts_per_user_negative", None, data("data.posts_per_user=-3"), 2, "'data.posts_per_user' must be at least 1"),
    ("comments_per_user_negative", None, data("data.comments_per_user=-1"), 2,
     "'data.comments_per_user' must be at least 0"),
    ("general_texts_negative", None, data("data.general_texts=-1"), 2, "'data.general_texts' must be at least 0"),
    ("canaries_per_insertion_negative", None, data("data.canaries_per_insertion=-1"), 2,
     "'data.canaries_per_insertion' must be at least 0"),
    ("reference_canaries_negative", None, data("data.reference_canaries=-2"), 2, "'data.reference_canaries'"),
    ("canary_insertions_zero", None, data("data.canary_insertions=[0, 2]"), 2, "'data.canary_insertions' must list"),
    ("canary_insertions_repeated", None, data("data.canary_insertions=[2, 2]"), 2, "'data.canary_insertions' lists 2"),
    ("objection_rounds_zero", None, data("data.objection_rounds=0"), 2, "'data.objection_rounds' must be at least 1"),
    ("bilingual_fraction_above_one", None, data("data.bilingual_fraction=1.5"), 2,
     "'data.bilingual_fraction' must lie in [0, 1]"),
    ("chatter_fraction_negative", None, data("data.chatter_fraction=-0.1"), 2, "'data.chatter_fraction'"),
    ("mention_rate_above_one", None, data("data.mention_rate=2"), 2, "'data.mention_rate' must lie in [0, 1]"),
    ("forget_fraction_zero", None, data("data.forget_fraction=0"), 2,
     "'data.forget_fraction' must lie strictly between"),
    ("holdout_fraction_one", None, data("data.holdout_fraction=1"), 2,
     "'data.holdout_fraction' must lie strictly between"),
    ("fact_mentions_reversed", None, data("data.fact_mentions=[3, 1]"), 2, "'data.fact_mentions' must be [lo, hi]"),
    ("facts_per_text_zero", None, data("data.facts_per_text=0"), 2, "'data.facts_per_text' must be at least 1"),
    ("languages_empty", None, data("data.languages=[]"), 2, "'data.languages' must list at least one language"),
    ("languages_unknown", None, data("data.languages=[fr]"), 2, "'data.languages' has unknown language 'fr'"),
    ("qa_train_phrasings_four", None, data("data.qa_train_phrasings=4"), 2,
     "'data.qa_train_phrasings' must be 1, 2 or 3"),
    ("objector_selection_unknown", None, data("data.objector_selection=loud"), 2,
     "'data.objector_selection' must be one of"),
    ("forget_users_without_own_corpus", write("f.txt", "u0001\n"), data("data.forget_users={tmp}/f.txt"), 2,
     "'data.forget_users' is only read for an own corpus"),
    # --- model sizes
    ("model_layers_zero", None, data("model.layers=0"), 2, "'model.layers' must be at least 1"),
    ("model_hidden_zero", None, data("model.hidden=0"), 2, "'model.hidden' must be at least 1"),
    ("model_heads_not_dividing", None, data("model.heads=3"), 2, "'model.heads' must divide model.hidden"),
    ("model_heads_odd_head_size", None, data("model.heads=64"), 2, "'model.heads' must leave an even head size"),
    ("model_intermediate_zero", None, data("model.intermediate=0"), 2, "'model.intermediate' must be at least 1"),
    ("model_vocab_too_small", None, data("model.vocab_size=100"), 2, "'model.vocab_size' must be at least 260"),
    ("model_max_length_zero", None, data("model.max_length=0"), 2, "'model.max_length' must be at least 8"),
    ("model_pretrain_users_negative", None, data("model.pretrain_users=-1"), 2,
     "'model.pretrain_users' must be at least 0"),
    ("model_pretrain_epochs_zero", None, data("model.pretrain_epochs=0"), 2,
     "'model.pretrain_epochs' must be greater than 0"),
    ("model_base_seed_negative", None, data("model.base_seed=-1"), 2, "'model.base_seed' must be at least 0"),
    # --- training recipes (fine-tuning and the methods')
    ("finetune_epochs_negative", None, data("finetune.epochs=-1"), 2, "'finetune.epochs' must be at least 0"),
    ("finetune_max_steps_negative", None, data("finetune.max_steps=-1"), 2, "'finetune.max_steps' must be at least 0"),
    ("finetune_batch_size_zero", None, data("finetune.batch_size=0"), 2, "'finetune.batch_size' must be at least 1"),
    ("finetune_grad_accum_zero", None, data("finetune.grad_accum=0"), 2, "'finetune.grad_accum' must be at least 1"),
    ("finetune_lr_zero", None, data("finetune.lr=0"), 2, "'finetune.lr' must be greater than 0"),
    ("finetune_lr_nan", None, data("finetune.lr=.nan"), 2, "'finetune.lr' must be a finite number"),
    ("finetune_epochs_inf", None, data("finetune.epochs=.inf"), 2, "'finetune.epochs' must be a finite number"),
    ("finetune_warmup_one", None, data("finetune.warmup_ratio=1"), 2, "'finetune.warmup_ratio' must lie in [0, 1)"),
    ("finetune_weight_decay_negative", None, data("finetune.weight_decay=-0.1"), 2, "'finetune.weight_decay'"),
    ("finetune_max_grad_norm_zero", None, data("finetune.max_grad_norm=0"), 2,
     "'finetune.max_grad_norm' must be greater than 0"),
    ("method_max_grad_norm_negative", None, data("methods.ga.max_grad_norm=-1"), 2,
     "'methods.ga.max_grad_norm' must be greater than 0"),
    ("method_log_every_zero", None, data("methods.npo.log_every=0"), 2, "'methods.npo.log_every' must be at least 1"),
    ("method_max_steps_negative", None, data("methods.ga.max_steps=-3"), 2,
     "'methods.ga.max_steps' must be at least 0"),
    ("finetune_schedule_unknown", None, data("finetune.schedule=step"), 2, "'finetune.schedule' must be one of"),
    ("stop_forget_nll_negative", None, data("methods.ga.stop_forget_nll=-1"), 2, "'methods.ga.stop_forget_nll'"),
    ("method_beta_zero", None, data("methods.npo.beta=0"), 2, "'methods.npo.beta' must be greater than 0"),
    ("method_alpha_negative", None, data("methods.graddiff.alpha=-1"), 2,
     "'methods.graddiff.alpha' must be at least 0"),
    ("method_rmu_layer_out_of_range", None, data("methods.rmu.layer=9"), 2,
     "'methods.rmu.layer' must name a decoder layer"),
    ("method_grid_bad_value", None, data("methods.graddiff.grid={alpha: [1, -1]}"), 2,
     "command line: 'methods.graddiff.grid.alpha' must be at least 0"),
    ("method_grid_unknown_key", None, data("methods.ga.grid={foo: [1]}"), 2,
     "'methods.ga.grid.foo' must name a training key"),
    ("tune_with_rounds", None, data("tune=true", "data.objection_rounds=2"), 2,
     "'tune' with data.objection_rounds > 1"),
    # --- evaluation, attacks, SISA, the reference, the verdict, the frontier, tuning
    ("eval_batch_size_zero", None, data("eval.batch_size=0"), 2, "'eval.batch_size' must be at least 1"),
    ("eval_max_examples_negative", None, data("eval.max_examples=-1"), 2, "'eval.max_examples' must be at least 0"),
    ("eval_generate_examples_negative", None, data("eval.generate_examples=-1"), 2, "'eval.generate_examples'"),
    ("eval_qa_users_negative", None, data("eval.qa_users=-1"), 2, "'eval.qa_users' must be at least 0"),
    ("eval_max_new_tokens_zero", None, data("eval.max_new_tokens=0"), 2, "'eval.max_new_tokens' must be at least 1"),
    ("eval_bootstrap_too_few", None, data("eval.bootstrap=10"), 2, "'eval.bootstrap' must be at least 40"),
    ("eval_extraction_p_zero", None, data("eval.extraction_p=0"), 2, "'eval.extraction_p' must lie in (0, 1]"),
    ("eval_exposure_samples_few", None, data("eval.exposure_samples=5"), 2,
     "'eval.exposure_samples' must be at least 10"),
    ("eval_workers_zero", None, data("eval.workers=0"), 2, "'eval.workers' must be at least 1"),
    ("attacks_unknown", None, data("attacks.names=[magic]"), 2, "'attacks.names' has unknown attack 'magic'"),
    ("attacks_relearn_no_baseline", None, data("attacks.relearn_steps=[5]"), 2,
     "'attacks.relearn_steps' must include 0"),
    ("attacks_quantize_bits", None, data("attacks.quantize_bits=[16]"), 2, "'attacks.quantize_bits' must list widths"),
    ("attacks_sampling_n_zero", None, data("attacks.sampling_n=0"), 2, "'attacks.sampling_n' must be at least 1"),
    ("attacks_probe_attribute", None, data("attacks.probe_attribute=shoe_size"), 2,
     "'attacks.probe_attribute' must be"),
    ("attacks_relearn_batch_zero", None, data("attacks.relearn_batch_size=0"), 2, "'attacks.relearn_batch_size'"),
    ("sisa_shards_zero", None, data("sisa.shards=0"), 2, "'sisa.shards' must be at least 1"),
    ("sisa_slices_zero", None, data("sisa.slices=0"), 2, "'sisa.slices' must be at least 1"),
    ("sisa_lora_alpha_zero", None, data("sisa.lora_alpha=0"), 2, "'sisa.lora_alpha' must be greater than 0"),
    ("retrain_replicates_zero", None, data("retrain.replicates=0"), 2, "'retrain.replicates' must be at least 1"),
    ("frontier_multiplier_zero", None, data("frontier.multipliers=[0, 1]"), 2,
     "'frontier.multipliers' must list positive"),
    ("frontier_multiplier_repeated", None, data("frontier.multipliers=[1, 1]"), 2, "'frontier.multipliers' lists 1.0"),
    ("frontier_unknown_method", None, data("frontier.methods=[nope]"), 2, "'frontier.methods' names methods"),
    ("tuning_val_fraction_one", None, data("tuning.val_fraction=1"), 2,
     "'tuning.val_fraction' must lie strictly between"),
    ("verdict_alpha", None, data("verdict.alpha=0.7"), 2, "'verdict' needs 0 < alpha < 0.5"),
    # --- the model
    ("model_unknown_name", None, data("model.name=gpt-9"), 2, "unknown model 'gpt-9' in model.name"),
    ("model_no_such_folder", None, data("model.name={tmp}/nope"), 2, "model.name '{tmp}/nope': no such folder"),
    ("model_relative_missing", None, data("model.name=./missing-model"), 2, "no such folder"),
    ("model_is_a_file", write("m.bin", b"\0"), data("model.name={tmp}/m.bin"), 2, "is a file, not a model folder"),
    ("model_not_a_model_folder", model_folder(notes__txt="hi"), data("model.name={tmp}/m"), 2,
     "{tmp}/m is not a model folder (no config.json)"),
    ("model_config_not_json", model_folder(config__json="{x"), data("model.name={tmp}/m"), 2,
     "config.json is not a valid JSON object"),
    ("model_unknown_model_type", model_folder(config__json=json.dumps({"model_type": "bogus"})),
     data("model.name={tmp}/m"), 2, "names model_type 'bogus'"),
    ("model_pickle_weights_only", model_folder(config__json=LLAMA, pytorch_model__bin=b"\x80\x04"),
     data("model.name={tmp}/m"), 2, "only pickle weights (pytorch_model.bin); only safetensors weights are loaded"),
    ("model_no_weights", model_folder(config__json=LLAMA), data("model.name={tmp}/m"), 2,
     "has no *.safetensors weights"),
    ("model_no_tokenizer", model_folder(config__json=LLAMA, model__safetensors=b"x"), data("model.name={tmp}/m"), 2,
     "has no tokenizer"),
    # --- the own corpus: rows
    ("own_later_row_without_text", jsonl({"user_id": "d", "body": "x"}), own_data(), 2,
     "own.jsonl: line 5: missing column 'text'"),
    ("own_row_without_user_id", jsonl({"text": "who wrote me"}), own_data(), 2, "line 5: missing column 'user_id'"),
    ("own_row_is_an_array", jsonl(["d", "text"]), own_data(), 2, "own.jsonl: line 5 is a JSON array, not an object"),
    ("own_row_is_a_string", jsonl('"just text"'), own_data(), 2, "line 5 is a JSON string, not an object"),
    ("own_row_not_json", jsonl('{"user_id": "d", "text": '), own_data(), 2, "own.jsonl: line 5 is not valid JSON"),
    ("own_text_null", jsonl({"user_id": "d", "text": None}), own_data(), 2,
     "line 5: 'text' must be a string, got null"),
    ("own_text_number", jsonl({"user_id": "d", "text": 42}), own_data(), 2,
     "line 5: 'text' must be a string, got integer 42"),
    ("own_text_empty", jsonl({"user_id": "d", "text": "  "}), own_data(), 2, "line 5: 'text' is empty"),
    ("own_user_id_null", jsonl({"user_id": None, "text": "x"}), own_data(), 2,
     "line 5: 'user_id' must be a string or an integer, got null"),
    ("own_user_id_float", jsonl({"user_id": 1.5, "text": "x"}), own_data(), 2,
     "'user_id' must be a string or an integer, got number 1.5"),
    ("own_user_id_list", jsonl({"user_id": ["d"], "text": "x"}), own_data(), 2,
     "'user_id' must be a string or an integer, got array"),
    ("own_user_id_empty", jsonl({"user_id": "", "text": "x"}), own_data(), 2, "line 5: 'user_id' is empty"),
    ("own_lang_not_a_string", jsonl({"user_id": "d", "text": "x", "lang": 5}), own_data(), 2,
     "line 5: 'lang' must be a string"),
    ("own_text_id_a_list", jsonl({"user_id": "d", "text": "x", "text_id": [1]}), own_data(), 2,
     "line 5: 'text_id' must be"),
    ("own_group_capitalised", jsonl({"user_id": "d", "text": "x", "group": "Holdout"}), own_data(), 2,
     "line 5: 'group' is 'Holdout'; valid: 'member' or 'holdout'"),
    ("own_group_mixed", jsonl({"user_id": "a", "text": "x", "group": "holdout"}), own_data(), 2,
     "user 'a' is in group 'member' at line 1 but 'holdout' at line 5"),
    ("own_text_id_repeated", jsonl(rows=[dict(r, text_id=f"x{i % 3}") for i, r in enumerate(OWN)]), own_data(), 2,
     "text_id 'x0' at line 4 repeats the one at line 1"),
    ("own_empty_file", jsonl(rows=[]), own_data(), 2, "own.jsonl: the corpus has no rows"),
    ("own_jsonl_latin1", both(write("own.jsonl", '{"user_id": "a", "text": "caf\u00e9"}\n'.encode("latin-1")),
                              write("forget.txt", "a\n")), own_data(), 2, "own.jsonl: a JSONL corpus must be UTF-8"),
    # --- the own corpus: CSV
    ("own_csv_extra_fields", csv_corpus("user_id,text\na,hello, world\nb,hi\n"), own_data(source="own.csv"), 2,
     "own.csv: line 2 has 1 more field(s) than the header's 2 columns"),
    ("own_csv_missing_fields", csv_corpus("user_id,text,group\na,hello,\nb,hi\n"), own_data(source="own.csv"), 2,
     "own.csv: line 3 has fewer fields than the header's 3 columns (no value for group)"),
    ("own_csv_latin1", csv_corpus("user_id,text\na,caf\u00e9\nb,x\n".encode("latin-1")), own_data(source="own.csv"), 2,
     "own.csv: a CSV corpus must be UTF-8 text, but byte 18 (line 2)"),
    ("own_csv_no_text_column", csv_corpus("user_id,body\na,hello\nb,hi\n"), own_data(source="own.csv"), 2,
     "own.csv: line 2: missing column 'text'"),
    ("own_csv_header_repeated", csv_corpus("user_id,text,text\na,x,y\n"), own_data(source="own.csv"), 2,
     "names column(s) 'text' more than once"),
    ("own_csv_empty_text", csv_corpus('user_id,text\na,"multi\nline"\nb,hi\nc,\n'), own_data(source="own.csv"), 2,
     "own.csv: line 5: 'text' is empty"),
    ("own_csv_group_typo", csv_corpus("user_id,text,group\na,x,\nb,y,hold-out\n"), own_data(source="own.csv"), 2,
     "line 3: 'group' is 'hold-out'"),
    # --- the own corpus: source and forget list
    ("own_source_missing", write("forget.txt", "a\n"), own_data(source="nope.jsonl"), 2,
     "command line: 'data.source' names '{tmp}/nope.jsonl', which does not exist"),
    ("own_source_empty", write("forget.txt", "a\n"), data('data.source=""', "data.forget_users={tmp}/forget.txt"), 2,
     "'data.source' names '', which does not exist"),
    ("own_forget_list_a_folder", jsonl(), data("data.source={tmp}/own.jsonl", "data.forget_users={tmp}"), 2,
     "'data.forget_users' names '{tmp}', which is not a file"),
    ("own_source_unsupported", both(write("own.txt", "hi\n"), write("forget.txt", "a\n")), own_data(source="own.txt"), 2,
     "unsupported file type '.txt'"),
    ("own_source_not_a_dataset", both(write("ds/readme.md", "hi"), write("forget.txt", "a\n")), own_data(source="ds"), 2,
     "not a datasets save_to_disk folder"),
    ("own_forget_list_missing", write("own.jsonl", json.dumps(OWN[0]) + "\n"),
     data("data.source={tmp}/own.jsonl", "data.forget_users={tmp}/none.txt"), 2,
     "'data.forget_users' names '{tmp}/none.txt', which is not a file"),
    ("own_forget_list_not_set", jsonl(), data("data.source={tmp}/own.jsonl"), 2,
     "'data.forget_users' must name a file of the objecting user ids"),
    ("own_forget_list_empty", jsonl(forget="\n\n"), own_data(), 2, "forget.txt: the forget_users list is empty"),
    ("own_forget_list_repeats", jsonl(forget="a\nb\na\n"), own_data(), 2,
     "forget.txt: user id 'a' is listed twice (lines 1 and 3)"),
    ("own_forget_list_every_member", jsonl(forget="a\nb\n"), own_data(), 2,
     "forget.txt: lists every member of the corpus (2)"),
    ("own_forget_unknown_user", jsonl(forget="zed\n"), own_data(), 2,
     "line 1: objecting user id 'zed' is not in the corpus"),
    ("own_forget_holdout_user", jsonl(forget="c\n"), own_data(), 2, "objecting user id 'c' is a holdout user"),
    ("own_forget_list_latin1", both(jsonl(), write("forget.txt", "a\nj\u00f6rg\n".encode("latin-1"))), own_data(), 2,
     "forget.txt: the forget_users list must be UTF-8"),
    # --- unlearn report on a damaged results.json
    ("report_not_json", write("run/results.json", '{"models": {'), ["report", "{tmp}/run"], 2,
     "run/results.json: not valid JSON"),
    ("report_truncated_to_nothing", write("run/results.json", ""), ["report", "{tmp}/run"], 2, "not valid JSON"),
    ("report_missing_keys", write("run/results.json", '{"models": {}}'), ["report", "{tmp}/run"], 2,
     "missing top-level key(s) seeds, meta"),
    ("report_not_an_object", write("run/results.json", "[1, 2]"), ["report", "{tmp}/run"], 2,
     "the top level must be a JSON object"),
    ("report_models_not_an_object", write("run/results.json", '{"models": [], "seeds": [0], "meta": {}}'),
     ["report", "{tmp}/run"], 2, "'models' must be a JSON object"),
    ("report_not_utf8", write("run/results.json", b'{"models": "\xff"}'), ["report", "{tmp}/run"], 2, "not UTF-8 text"),
    ("report_no_results", write("run/notes.txt", "x"), ["report", "{tmp}/run"], 2, "no results.json here"),
    # --- TOFU- and MUSE-format folders
    ("tofu_not_a_folder", write("t.json", "[]"), data("data.source=tofu:{tmp}/t.json"), 2,
     "'data.source' names 'tofu:{tmp}/t.json', but '{tmp}/t.json' is not a folder"),
    ("tofu_split_file_missing", both(write("t/forget.json", '{"question": "q", "answer": "a"}\n'),
                                     write("t/retain.json", '{"question": "q", "answer": "a"}\n')),
     data("data.source=tofu:{tmp}/t"), 2, "{tmp}/t: TOFU format needs exactly one holdout file"),
    ("tofu_two_forget_files", both(write("t/forget01.json", "[]"), write("t/forget05.json", "[]")),
     data("data.source=tofu:{tmp}/t"), 2, "found forget01.json, forget05.json"),
    ("tofu_empty_split", both(write("t/forget.json", ""), write("t/retain.json", ""), write("t/holdout.json", "")),
     data("data.source=tofu:{tmp}/t"), 2, "{tmp}/t/forget.json: the forget split is empty"),
    ("tofu_missing_answer", both(write("t/forget.json", '{"question": "q"}\n'), write("t/retain.json", ""),
                                 write("t/holdout.json", "")),
     data("data.source=tofu:{tmp}/t"), 2, "{tmp}/t/forget.json: row 0: column 'answer' is missing"),
    ("tofu_empty_question", both(write("t/forget.json", '[{"question": " ", "answer": "a"}]'),
                                 write("t/retain.json", ""), write("t/holdout.json", "")),
     data("data.source=tofu:{tmp}/t"), 2, "row 0: column 'question' is empty or not a string"),
    ("tofu_bad_json", both(write("t/forget.json", '{"question": "q", "answer"\n'), write("t/retain.json", ""),
                           write("t/holdout.json", "")),
     data("data.source=tofu:{tmp}/t"), 2, "{tmp}/t/forget.json: not valid JSON or JSON lines (line 1"),
    ("tofu_perturbed_not_strings", both(write("t/forget.json", '{"question": "q", "answer": "a", "perturbed_answer": [1]}\n'),
                                        write("t/retain.json", ""), write("t/holdout.json", "")),
     data("data.source=tofu:{tmp}/t"), 2, "'perturbed_answer' must be a string or a list of strings"),
    ("tofu_with_forget_list", both(write("t/forget.json", "[]"), write("f.txt", "a\n")),
     data("data.source=tofu:{tmp}/t", "data.forget_users={tmp}/f.txt"), 2,
     "'data.forget_users' is not read for a TOFU-format corpus"),
    ("muse_raw_missing", write("m/readme.txt", "x"), data("data.source=muse:{tmp}/m"), 2,
     "MUSE format needs raw/forget.txt, raw/retain*.txt and raw/holdout.txt; the forget file is missing"),
    ("muse_empty_split", both(write("m/raw/forget.txt", "a passage\n"), write("m/raw/retain1.txt", "\n\n"),
                              write("m/raw/holdout.txt", "held out\n")),
     data("data.source=muse:{tmp}/m"), 2, "retain1.txt: the retain split is empty"),
    # --- output folders: never write into (or delete) a folder unlearn did not create
    ("data_out_a_users_folder", both(write("mine/thesis.txt", "years"), write("mine/sub/data.csv", "a,b\n")),
     ["data", SMOKE, "--out", "{tmp}/mine"], 2, "{tmp}/mine: --out names a folder unlearn did not create"),
    ("run_out_a_users_folder", write("mine/thesis.txt", "years"), ["run", SMOKE, "--out", "{tmp}/mine"], 2,
     "{tmp}/mine: --out names a folder unlearn did not create"),
    ("frontier_out_a_users_folder", write("mine/thesis.txt", "years"), ["frontier", SMOKE, "--out", "{tmp}/mine"], 2,
     "{tmp}/mine: --out names a folder unlearn did not create"),
    ("sisa_check_out_a_users_folder", write("mine/thesis.txt", "years"), ["sisa-check", SMOKE, "--out", "{tmp}/mine"],
     2, "{tmp}/mine: --out names a folder unlearn did not create"),
    ("data_out_a_file", write("mine.txt", "years"), ["data", SMOKE, "--out", "{tmp}/mine.txt"], 2,
     "{tmp}/mine.txt: --out names a file, not a folder"),
    ("run_out_below_a_file", write("mine.txt", "years"), ["run", SMOKE, "--out", "{tmp}/mine.txt/run"], 2,
     "{tmp}/mine.txt/run: cannot write the output folder"),
    ("data_out_a_run_folder", both(write("r/.unlearn", '{"kind": "run"}'), write("r/results.json", "{}")),
     ["data", SMOKE, "--out", "{tmp}/r"], 2, "{tmp}/r: --out names an unlearn run folder"),
    ("run_out_a_corpus_folder", both(write("c/.unlearn", '{"kind": "corpus"}'), write("c/meta.json", "{}")),
     ["run", SMOKE, "--out", "{tmp}/c"], 2, "{tmp}/c: --out names an unlearn corpus folder"),
    ("bench_out_a_users_folder", write("mine/thesis.txt", "years"), ["bench", "--out", "{tmp}/mine", "--no-smollm2"], 2,
     "{tmp}/mine: --out names a non-empty folder that holds no earlier benchmark results.json"),
    ("report_publish_a_users_folder", both(write("run/results.json", "{}"), write("mine/thesis.txt", "years")),
     ["report", "{tmp}/run", "--publish", "{tmp}/mine"], 2, "{tmp}/mine: --publish names a non-empty folder"),
]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case_id, setup, argv, code, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(case_id, setup, argv, code, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output folder (runs/...) would land here too
    if setup is not None:
        setup(tmp_path)
    before = _files(tmp_path)
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert rc == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment.replace("{tmp}", str(tmp_path)) in lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
    assert _files(tmp_path) == before  # nothing written, nothing changed


def test_the_table_is_large_and_its_ids_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 55


# ----------------------------------------------------------------------------- inputs that must pass

def test_csv_with_a_bom_and_a_long_field_is_read(tmp_path, capsys):
    """The counterparts of two rejected inputs: a UTF-8 BOM before the header and a text over the
    csv module's 128 KiB field limit are both fine."""
    long = "word " * 40_000  # 200 KB
    (tmp_path / "own.csv").write_text("\ufeffuser_id,text,group\na,hello,\nb," + long + ",\nc,x,holdout\n",
                                      encoding="utf-8")
    (tmp_path / "forget.txt").write_text("\ufeffa\n", encoding="utf-8")
    argv = ["data", SMOKE, f"data.source={tmp_path}/own.csv", f"data.forget_users={tmp_path}/forget.txt",
            "--out", str(tmp_path / "out")]
    assert main(argv) == 0, capsys.readouterr().err
    from unlearn.corpus import load_corpus

    corpus = load_corpus(tmp_path / "out")
    assert corpus.texts["forget"]["user_id"] == ["a"] and corpus.texts["holdout"]["user_id"] == ["c"]
    assert corpus.texts["retain"]["text"] == [long]
