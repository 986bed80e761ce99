"""The console's words in Chinese (the default for officers) and English (`?lang=en`)."""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"zh": "aidlink 审计日志审查台", "en": "aidlink audit review console"},
    "signed_in_as": {"zh": "当前安全员", "en": "Signed in as"},
    "nav_log": {"zh": "日志", "en": "Log"},
    "nav_consistency": {"zh": "一致性校验", "en": "Consistency"},
    "nav_report": {"zh": "异常报告", "en": "Anomaly report"},
    "nav_export": {"zh": "导出", "en": "Export"},
    "department": {"zh": "部门", "en": "Department"},
    "identity": {"zh": "证书身份", "en": "Certificate identity"},
    "method": {"zh": "调用方法", "en": "Method"},
    "purpose": {"zh": "用途", "en": "Purpose"},
    "agreement": {"zh": "共享协议", "en": "Agreement"},
    "dataset": {"zh": "数据集", "en": "Dataset"},
    "outcome": {"zh": "结果", "en": "Outcome"},
    "since": {"zh": "起始时间", "en": "Since"},
    "until": {"zh": "截止时间", "en": "Until"},
    "order": {"zh": "排序字段", "en": "Sort by"},
    "sort": {"zh": "顺序", "en": "Order"},
    "newest": {"zh": "降序（时间最新在前）", "en": "Descending (newest first)"},
    "oldest": {"zh": "升序（时间最早在前）", "en": "Ascending (oldest first)"},
    "any": {"zh": "全部", "en": "Any"},
    "filter": {"zh": "筛选", "en": "Filter"},
    "seq": {"zh": "序号", "en": "Seq"},
    "time": {"zh": "时间", "en": "Time"},
    "status": {"zh": "状态码", "en": "Status"},
    "datasets": {"zh": "数据集", "en": "Datasets"},
    "detail": {"zh": "说明", "en": "Detail"},
    "counts": {"zh": "计数", "en": "Counts"},
    "peer": {"zh": "来源地址", "en": "Peer"},
    "verification": {"zh": "浏览器校验", "en": "Verified in your browser"},
    "next_page": {"zh": "下一页", "en": "Next page"},
    "first_page": {"zh": "第一页", "en": "First page"},
    "no_entries": {"zh": "没有符合条件的记录", "en": "No entries match"},
    "entry": {"zh": "记录", "en": "Entry"},
    "verified_body": {"zh": "经校验的原始记录", "en": "The verified record as logged"},
    "checkpoint": {"zh": "签名检查点", "en": "Signed checkpoint"},
    "verifier_key": {"zh": "审计公钥", "en": "Audit verifier key"},
    "pending": {"zh": "校验中…", "en": "verifying…"},
    "verified": {
        "zh": "已校验：包含于检查点 #{number}（{size} 条）",
        "en": "verified against checkpoint #{number} ({size} entries)",
    },
    "cosigned": {
        "zh": "见证方 {witness} 已于 {time} 副署该检查点",
        "en": "cosigned by witness {witness} at {time}",
    },
    "not_cosigned": {
        "zh": "注意：见证方 {witness} 尚未副署任何检查点（日志未经见证）",
        "en": "NOT cosigned by witness {witness} (the log is not witnessed)",
    },
    "cosignature_bad": {
        "zh": "见证方 {witness} 的副署签名校验失败",
        "en": "the cosignature by witness {witness} does not verify",
    },
    "not_covered": {
        "zh": "记录 {seq} 晚于检查点 #{number}，等待下一个检查点",
        "en": "entry {seq} is newer than checkpoint #{number}; wait for the next checkpoint",
    },
    "leaf_mismatch": {
        "zh": "校验失败：记录 {seq} 的内容与日志树中的叶哈希不符（记录在写入后被改动）",
        "en": "FAILED: entry {seq}: its stored content does not hash to the leaf in the log's tree (altered after it was logged)",
    },
    "proof_mismatch": {
        "zh": "校验失败：记录 {seq} 的包含证明不能导出检查点 #{number} 的根哈希",
        "en": "FAILED: entry {seq}: its inclusion proof does not lead to the root of checkpoint #{number}",
    },
    "seq_mismatch": {
        "zh": "校验失败：记录 {seq} 的内容写明的序号是 {found}（记录被移动）",
        "en": "FAILED: entry {seq}: its content says it is entry {found} (moved)",
    },
    "shown_differs": {
        "zh": "校验失败：记录 {seq} 页面显示的{field}与经校验的记录不符",
        "en": "FAILED: entry {seq}: the page shows a {field} the verified record does not hold",
    },
    "key_changed": {
        "zh": "控制台提供的审计公钥与本浏览器固定的公钥 {pinned} 不同；确认公钥轮换后方可信任新公钥",
        "en": "the console now serves an audit verifier key other than the one this browser pinned ({pinned}); trust the new key only after confirming a key rotation",
    },
    "checkpoint_failed": {"zh": "检查点校验失败：{error}", "en": "checkpoint does not verify: {error}"},
    "no_checkpoint": {"zh": "日志尚无签名检查点", "en": "the log has no signed checkpoint yet"},
    "consistency_intro": {
        "zh": "选择两个检查点，浏览器校验后一个检查点的日志是前一个的延续（未删改任何记录）。",
        "en": "Pick two checkpoints; your browser checks that the later log extends the earlier one (nothing removed or changed).",
    },
    "older": {"zh": "较早的检查点", "en": "Earlier checkpoint"},
    "newer": {"zh": "较晚的检查点", "en": "Later checkpoint"},
    "check": {"zh": "校验", "en": "Check"},
    "consistent": {
        "zh": "一致：检查点 #{n2}（{s2} 条）是检查点 #{n1}（{s1} 条）的延续",
        "en": "consistent: checkpoint #{n2} ({s2} entries) extends checkpoint #{n1} ({s1} entries)",
    },
    "inconsistent": {
        "zh": "不一致：检查点 #{n1} 与 #{n2} 之间的一致性证明不成立",
        "en": "INCONSISTENT: the consistency proof between checkpoints #{n1} and #{n2} does not hold",
    },
    "report_period": {"zh": "报告时段", "en": "Report period"},
    "anomalies": {"zh": "异常", "en": "Anomalies"},
    "no_anomalies": {"zh": "未发现异常", "en": "No anomalies"},
    "volume_refusals": {"zh": "因数量限制被拒绝的调用", "en": "Calls refused by volume limits"},
    "calls_per_department": {"zh": "各部门调用量（按时段）", "en": "Calls per department over time"},
    "allowed_calls": {"zh": "允许", "en": "allowed"},
    "refused_calls": {"zh": "拒绝", "en": "refused"},
    "count": {"zh": "次数", "en": "Count"},
    "kind": {"zh": "类型", "en": "Kind"},
    "message": {"zh": "说明", "en": "Message"},
    "export_intro": {
        "zh": "导出当前筛选条件下的记录：离线可校验的证据包（aidlink audit verify-bundle），或供 SIEM 使用的 OCSF / CEF 行。",
        "en": "Export the entries the current filters select: the offline-verifiable bundle (aidlink audit verify-bundle), or OCSF / CEF lines for a SIEM.",
    },
    "export_bundle": {"zh": "证据包 (JSON)", "en": "Evidence bundle (JSON)"},
    "export_ocsf": {"zh": "OCSF API Activity (JSON 行)", "en": "OCSF API Activity (JSON lines)"},
    "export_cef": {"zh": "CEF 行", "en": "CEF lines"},
    "refused_title": {"zh": "拒绝访问", "en": "Access refused"},
    "bad_request": {"zh": "请求有误", "en": "Bad request"},
    "body_invalid": {"zh": "（记录内容不是有效的审计记录）", "en": "(the stored content is not a valid audit entry)"},
    "pinned_key": {"zh": "本浏览器固定的审计公钥", "en": "Audit verifier key pinned in this browser"},
    "served_key": {"zh": "控制台提供的审计公钥", "en": "Audit verifier key this console serves"},
    "trust_served_key": {"zh": "信任控制台现在提供的公钥", "en": "Trust the key this console now serves"},
    "language": {"zh": "English", "en": "中文"},
}


def translate(key: str, language: str) -> str:
    return MESSAGES[key][language if language in LANGUAGES else DEFAULT_LANGUAGE]


def script_messages(language: str) -> dict[str, str]:
    """The messages the browser's verification code writes."""
    keys = (
        "pending",
        "verified",
        "not_covered",
        "cosigned",
        "not_cosigned",
        "cosignature_bad",
        "leaf_mismatch",
        "proof_mismatch",
        "seq_mismatch",
        "shown_differs",
        "key_changed",
        "checkpoint_failed",
        "no_checkpoint",
        "consistent",
        "inconsistent",
    )
    return {key: translate(key, language) for key in keys}
