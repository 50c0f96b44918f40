require "fileinto";
require "imap4flags";
if header :contains "To" "lists@" { addflag "\\Seen"; }
if header :contains "Subject" "Отчёт" { fileinto "Работа"; stop; }
