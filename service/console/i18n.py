"""The console's words in English and Chinese: a small catalogue, keyed by the English text.

The language is the one the user picked with the switch (kept in the session), else the browser's
``Accept-Language``, else English. A text the catalogue lacks shows in English; a test keeps every key used in
the templates in the catalogue.
"""

from __future__ import annotations

from flask import has_request_context, request, session

LANGUAGES = ("en", "zh")

ZH: dict[str, str] = {
    # chrome
    "Complaint console": "投诉处理台",
    "Queue": "待办队列",
    "Dashboard": "管理看板",
    "Policy": "处理规则",
    "Sign in": "登录",
    "Sign out": "退出",
    "Name": "账号",
    "Password": "密码",
    "Wrong name or password.": "账号或密码错误。",
    "Signed in as": "当前用户",
    "agent": "坐席",
    "manager": "主管",
    "No account yet? An administrator creates one with": "还没有账号？请管理员用以下命令创建：",
    "This page is for managers.": "此页面仅限主管查看。",
    "The form expired; please try again.": "表单已过期，请重试。",
    "Not found": "未找到",
    "No case with this id.": "没有这个编号的案件。",
    # queue
    "Open cases": "未结案件",
    "by nearest deadline": "按最近截止时间排序",
    "Department": "部门",
    "Level": "级别",
    "Status": "状态",
    "Needs review": "需复核",
    "Language": "语言",
    "Overdue": "已超时",
    "Assignee": "处理人",
    "Category": "类别",
    "Severity": "严重程度",
    "Received": "受理时间",
    "Due": "截止",
    "Time left": "剩余时间",
    "Filter": "筛选",
    "Clear": "清除",
    "any": "全部",
    "open": "未结",
    "yes": "是",
    "no": "否",
    "unassigned": "未分配",
    "Next page": "下一页",
    "First page": "第一页",
    "No cases match.": "没有符合条件的案件。",
    "cases": "件",
    "more than": "超过",
    "overdue by": "已超时",
    "no open deadline": "无待办时限",
    "me": "我",
    # case
    "Case": "案件",
    "Complaint (masked)": "投诉内容（已脱敏）",
    "Highlighted evidence": "高亮显示的证据",
    "Decision": "处理决定",
    "confidence": "置信度",
    "model said": "模型判断",
    "Escalation": "升级",
    "Refund": "退款",
    "approval required": "需审批",
    "Also notify": "同时通知",
    "Excluded handlers": "回避人员",
    "Secondary categories": "次要类别",
    "none": "无",
    "Rules that fired": "触发的规则",
    "Plan": "处理计划",
    "Deadlines": "时限",
    "acknowledge_by": "确认受理",
    "report_by": "上报管理层",
    "resolve_by": "办结",
    "follow_up_by": "回访",
    "regulatory_by": "监管时限",
    "done": "已完成",
    "History": "处理记录",
    "Linked cases": "关联案件",
    "repeat of": "重复投诉，之前的",
    "collective with": "群体投诉，同批",
    "Accept the decision": "确认决定",
    "Accepted": "已确认",
    "Correct": "更正",
    "Correct the decision": "更正决定",
    "keep": "不变",
    "What the last correction changed": "上次更正的变化",
    "before": "之前",
    "after": "之后",
    "Assign": "分配",
    "Change status": "变更状态",
    "Move to": "转为",
    "Note": "备注",
    "Add a note": "添加备注",
    "Reply to the customer": "回复客户",
    "Record the reply": "记录回复",
    "Resolution": "处理结果",
    "Remedy": "补救方式",
    "Refund amount": "退款金额",
    "Record the resolution": "记录处理结果",
    "Satisfaction": "满意度",
    "Record satisfaction": "记录满意度",
    "Save": "保存",
    "Actions": "操作",
    "Done.": "已完成。",
    "Reply": "回复",
    "needs_review": "需复核",
    "Nothing to do in this status.": "此状态下无可用操作。",
    "The case is closed.": "案件已结案。",
    "Back to the queue": "返回队列",
    "decided": "决定",
    "Feature not available yet": "功能尚未提供",
    # dashboard
    "Weekly": "按周",
    "Monthly": "按月",
    "Volume by category": "各类别投诉量",
    "Volume by severity": "各严重程度投诉量",
    "SLA compliance by department": "各部门时限达成率",
    "acknowledged on time": "按时确认",
    "resolved on time": "按时办结",
    "Open crises": "未结危机案件",
    "Needs-review share": "需复核比例",
    "Agreement between agents and the model": "坐席与模型一致率",
    "share of reviewed decisions accepted without correction": "经复核的决定中未经更正即确认的比例",
    "reviewed": "已复核",
    "accepted": "已确认",
    "corrected": "已更正",
    "Total": "合计",
    "No data in this window.": "此时间段内没有数据。",
    "no review needed": "无需复核",
    "model": "模型", "override": "人工指定",
    "Window": "时间范围",
    "since": "自",
    "period": "周期",
    # policy
    "Policy version": "规则版本",
    "Thresholds": "阈值",
    "Rules": "规则",
    "Stage": "阶段",
    "Rule": "规则",
    "Why": "原因",
    "When": "条件",
    "Then": "结果",
    "priority": "优先级",
    "Read-only: the policy is changed in its files (policy.toml, rulesets/*.json) by the policy owner.":
        "只读：规则由规则负责人在文件中修改（policy.toml、rulesets/*.json）。",
}

# the contract's vocabularies
ZH.update({
    # categories
    "product_quality": "产品质量", "delivery": "物流配送", "billing": "计费账单", "refund_return": "退款退货",
    "service_attitude": "服务态度", "account_security": "账户安全", "safety": "安全", "facilities": "设施",
    "other": "其他",
    # severities
    "low": "低", "medium": "中", "high": "高", "critical": "危急",
    # departments
    "quality": "质量部", "logistics": "物流部", "after_sales": "售后部", "customer_service": "客服部",
    "security": "安全保卫部", "public_relations": "公关部", "legal": "法务部", "management": "管理层",
    # escalation names
    "frontline": "一线处理", "department": "部门处理", "major": "重大投诉", "crisis": "危机",
    # statuses
    "new": "新建", "acknowledged": "已受理", "in_progress": "处理中", "waiting_customer": "等待客户",
    "resolved": "已解决", "closed": "已结案", "reopened": "已重开",
    # refund eligibility
    "not_requested": "未申请", "not_accepted": "不予受理", "identity_check": "需核实身份",
    "double_refund": "双倍退款", "eligible": "可退款", "pre_refund": "先行退款", "not_eligible": "不可退款",
    "needs_verification": "待核实",
    # signals
    "refund_request": "要求退款", "media_threat": "媒体威胁", "media_exposure": "已曝光", "legal_threat": "法律威胁",
    "legal_action_filed": "已起诉", "regulator_threat": "投诉监管", "injury": "人身伤害", "repeat": "重复投诉",
    "collective": "群体投诉", "extreme_action": "极端行为", "amount": "金额", "date": "日期",
    # remedies
    "refund": "退款", "exchange": "换货", "repair": "维修", "compensation": "赔偿", "apology": "道歉",
    "explanation": "解释说明",
    # history actions
    "created": "创建", "status": "状态", "assign": "分配", "note": "备注", "reply": "回复",
    "resolution": "处理结果", "satisfaction": "满意度", "report": "上报", "correction": "更正", "linked": "关联",
    "accept": "确认",
    # stages
    "escalation": "升级", "decision": "决定", "plan": "计划",
    "zh": "中文", "en": "英文",
})


def current_language() -> str:
    if not has_request_context():
        return "en"
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-TW", "zh-Hans"], default="en")
    return "zh" if best.startswith("zh") else "en"


def translate(text: str, lang: str | None = None) -> str:
    lang = lang or current_language()
    if lang == "zh":
        return ZH.get(text, text)
    return text


def label(value: object, lang: str | None = None) -> str:
    """A vocabulary value (category, department, status, …) in words: 'after_sales' → 'after sales' or 售后部."""
    if value is None:
        return "—"
    lang = lang or current_language()
    text = str(value)
    if lang == "zh" and text in ZH:
        return ZH[text]
    return text.replace("_", " ")
