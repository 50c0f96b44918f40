// The webmail's words in English and Russian.

const en = {
  login: "Log in", username: "User name", password: "Password", code: "Code from your authenticator app",
  logout: "Log out", logoutAll: "Log out everywhere", compose: "Compose", settings: "Settings", search: "Search mail",
  inbox: "Inbox", noMessages: "No messages", loading: "Loading…", prev: "Newer", next: "Older",
  reply: "Reply", replyAll: "Reply all", forward: "Forward", forwardAttach: "Forward as attachment", archive: "Archive", delete: "Delete", spam: "Spam", notSpam: "Not spam",
  flag: "Flag", unflag: "Unflag", markRead: "Mark read", markUnread: "Mark unread", moveTo: "Move to…", back: "Back",
  from: "From", to: "To", cc: "Cc", bcc: "Bcc", subject: "Subject", date: "Date", attachments: "Attachments",
  send: "Send", saveDraft: "Save draft", discard: "Discard", attach: "Attach files", sent: "Sent", draftSaved: "Draft saved",
  showOriginal: "Show original", showImages: "Show remote images", imagesBlocked: "Remote images are blocked.",
  signedBy: "signed by", spfPass: "sender's server allowed (SPF)", spfFail: "failed SPF", dkimFail: "signature failed (DKIM)",
  dmarcPass: "DMARC passed", dmarcFail: "failed DMARC", spamVerdict: "Marked as spam", notChecked: "not checked", notSigned: "not signed (DKIM)",
  changePassword: "Change password", currentPassword: "Current password", newPassword: "New password", save: "Save", saved: "Saved",
  appPasswords: "App passwords", appPasswordName: "Name (e.g. phone)", add: "Add", remove: "Remove", appPasswordShown: "Shown only once:",
  totp: "Two-factor authentication (TOTP)", totpOn: "On", totpOff: "Off", enable: "Enable", disable: "Disable",
  totpScan: "Scan this code or enter the key in your authenticator app, then type the code it shows.",
  signature: "Signature", language: "Language", close: "Close", error: "Something went wrong", wrongLogin: "Wrong user name or password",
  shortcuts: "Keys: j/k next/previous, r reply, a reply all, f forward, e archive, # delete, / search, c compose",
  results: "Search results", me: "me", noSubject: "(no subject)", fwdNote: "The original message is attached.",
  identity: "From",
  vacation: "Vacation reply", vacationOn: "Reply automatically while I am away", vacationText: "Message",
  filters: "Filters", newRule: "New rule", ruleIf: "If", ruleContains: "contains", ruleThen: "then",
  ruleMove: "Move to folder", ruleDiscard: "Delete for good", ruleFolder: "Folder", sieveScript: "Sieve script",
  appleProfile: "Download the profile for iPhone, iPad and Mac",
  sortBy: "Sort by", sort_date: "Newest first", sort_from: "Sender", sort_subject: "Subject", sort_size: "Largest first",
  selected: "selected", advanced: "Advanced search", hasAttachment: "Has attachments", dateFrom: "From date", dateTo: "To date",
  folder: "Folder", anyFolder: "All folders", alwaysImages: "Always show images from", neverImages: "Stop showing images from",
};

type Dict = typeof en;

const ru: Dict = {
  login: "Войти", username: "Имя пользователя", password: "Пароль", code: "Код из приложения-аутентификатора",
  logout: "Выйти", logoutAll: "Выйти на всех устройствах", compose: "Написать", settings: "Настройки", search: "Поиск писем",
  inbox: "Входящие", noMessages: "Писем нет", loading: "Загрузка…", prev: "Новее", next: "Старее",
  reply: "Ответить", replyAll: "Ответить всем", forward: "Переслать", forwardAttach: "Переслать вложением", archive: "В архив", delete: "Удалить", spam: "Спам", notSpam: "Не спам",
  flag: "Пометить", unflag: "Снять пометку", markRead: "Прочитано", markUnread: "Не прочитано", moveTo: "Переместить…", back: "Назад",
  from: "От", to: "Кому", cc: "Копия", bcc: "Скрытая копия", subject: "Тема", date: "Дата", attachments: "Вложения",
  send: "Отправить", saveDraft: "Сохранить черновик", discard: "Отменить", attach: "Приложить файлы", sent: "Отправлено", draftSaved: "Черновик сохранён",
  showOriginal: "Исходный текст", showImages: "Показать картинки", imagesBlocked: "Картинки из сети заблокированы.",
  signedBy: "подписано", spfPass: "сервер отправителя разрешён (SPF)", spfFail: "не прошло SPF", dkimFail: "подпись неверна (DKIM)",
  dmarcPass: "DMARC пройден", dmarcFail: "не прошло DMARC", spamVerdict: "Помечено как спам", notChecked: "не проверено", notSigned: "без подписи (DKIM)",
  changePassword: "Сменить пароль", currentPassword: "Текущий пароль", newPassword: "Новый пароль", save: "Сохранить", saved: "Сохранено",
  appPasswords: "Пароли приложений", appPasswordName: "Название (например, телефон)", add: "Добавить", remove: "Удалить", appPasswordShown: "Показывается один раз:",
  totp: "Двухфакторная аутентификация (TOTP)", totpOn: "Включена", totpOff: "Выключена", enable: "Включить", disable: "Выключить",
  totpScan: "Отсканируйте код или введите ключ в приложении-аутентификаторе, затем введите показанный им код.",
  signature: "Подпись", language: "Язык", close: "Закрыть", error: "Что-то пошло не так", wrongLogin: "Неверное имя или пароль",
  shortcuts: "Клавиши: j/k следующее/предыдущее, r ответить, a ответить всем, f переслать, e в архив, # удалить, / поиск, c написать",
  results: "Результаты поиска", me: "я", noSubject: "(без темы)", fwdNote: "Исходное письмо приложено.",
  identity: "От",
  vacation: "Автоответ", vacationOn: "Отвечать автоматически, пока меня нет", vacationText: "Текст",
  filters: "Фильтры", newRule: "Новое правило", ruleIf: "Если", ruleContains: "содержит", ruleThen: "то",
  ruleMove: "Переместить в папку", ruleDiscard: "Удалить навсегда", ruleFolder: "Папка", sieveScript: "Сценарий Sieve",
  appleProfile: "Скачать профиль для iPhone, iPad и Mac",
  sortBy: "Сортировка", sort_date: "Сначала новые", sort_from: "Отправитель", sort_subject: "Тема", sort_size: "Сначала большие",
  selected: "выбрано", advanced: "Расширенный поиск", hasAttachment: "С вложениями", dateFrom: "С даты", dateTo: "По дату",
  folder: "Папка", anyFolder: "Все папки", alwaysImages: "Всегда показывать картинки от", neverImages: "Не показывать картинки от",
};

export type Key = keyof Dict;

let dict: Dict = en;

export function setLanguage(lang: string): void {
  dict = lang === "ru" ? ru : en;
  document.documentElement.lang = lang === "ru" ? "ru" : "en";
}

export function t(k: Key): string {
  return dict[k];
}

export const roleNames: Record<string, { en: string; ru: string }> = {
  inbox: { en: "Inbox", ru: "Входящие" }, drafts: { en: "Drafts", ru: "Черновики" }, sent: { en: "Sent", ru: "Отправленные" },
  trash: { en: "Trash", ru: "Корзина" }, junk: { en: "Junk", ru: "Спам" }, archive: { en: "Archive", ru: "Архив" },
};
