"""Given names and name-shape rules for the languages no offline NER covers (Armenian, Azerbaijani, Arabic),
also used beside NER for English, Russian and Ukrainian.

Compiled by hand from public facts (common given names of each region as listed in public name
dictionaries and civil-registry statistics). A name that is also a common word or a time of day in its
language ("صباح" morning, "نور" light, "Роман" novel) is a WEAK name: it counts only next to other evidence.
"""

from __future__ import annotations

from .names import given_forms, normalise_arabic, phonetic

ARMENIAN = """
Արմեն Արամ Արա Արշակ Արթուր Արտակ Արտաշես Արսեն Աշոտ Ավետիք Գագիկ Գևորգ Գրիգոր Դավիթ Էդգար Էդուարդ Էրիկ
Վահան Վահագն Վազգեն Վարդան Վաչե Վիգեն Տիգրան Կարեն Կարո Հայկ Հակոբ Համլետ Հովհաննես Հրաչ Հրայր Մհեր Միքայել
Մկրտիչ Նարեկ Ներսես Պողոս Ռաֆայել Ռուբեն Սամվել Սարգիս Սեդրակ Սերգեյ Սուրեն Սևակ Ստեփան Սպարտակ Սասուն Սմբատ
Շահեն Ժիրայր Լևոն Խաչատուր Մանվել Նորայր Անդրանիկ Հարություն Գառնիկ Ռազմիկ Արայիկ Վլադիմիր Երվանդ Ռոբերտ
Անի Աննա Անահիտ Արփի Աստղիկ Գայանե Գոհար Դիանա Էլեն Էլինա Էմմա Զարուհի Լիլիթ Լուսինե Մարիամ Մարինե Մարգարիտ
Նարինե Նունե Շողիկ Սիրանուշ Սոնա Սյուզաննա Սրբուհի Տաթևիկ Քնարիկ Հասմիկ Հռիփսիմե Ռուզաննա Վարդուհի Լաուրա
Նաիրա Արմինե Մելինե Սեդա Կարինե Ալվարդ Անժելա Հերմինե Լիանա Մանե Շուշան Էվելինա Գոհարիկ Սաթենիկ Թագուհի
"""

AZERBAIJANI = """
Əli Vəli Həsən Hüseyn Məmməd Məhəmməd Rəşad Rəşid Elçin Elnur Elvin Elşən Elmir Elxan Emin Orxan Tural Tural
Ramin Ramil Rauf Rövşən Səməd Samir Sənan Seymur Tofiq Vüqar Vüsal Yusif Zaur Fərid Fəxri Fuad Kamran Kənan Nicat
Nurlan Nihad Pərviz Ruslan Ruslan Rüfət Şahin Şamil Teymur Taleh Toğrul Vahid Vasif Zakir Anar Aqil Azər Bəxtiyar
Cavid Cəlal Cəfər Cavad Eldar Eldəniz Emil İlkin İlham İlqar İsmayıl Kamil Mirzə Murad Müşfiq Natiq Nəsimi Qasım
Ramiz Səbuhi Sərdar Xəyal Xaqani Yaşar Zahid Ziya Qabil Ağa Akif Arif Arzu Aysel Aynur Aytən Aygün Aysu Bahar
Çiçək Dilarə Elnarə Fidan Firuzə Gülnar Gülnarə Günay Gülşən Xədicə Kəmalə Ləman Leyla Mehriban Nərgiz Nigar
Nərmin Nurana Pərvanə Rəna Sevinc Səbinə Şəbnəm Sevda Türkan Ülviyyə Vəfa Yeganə Zəhra Zeynəb Zərifə Könül Lalə
Məlahət Sənubər Təranə Aytac Ayşən Fatimə Gülər Humay Ilahə İradə Mələk Nazlı Rəfiqə Samirə Solmaz Sürəyya
"""

SLAVIC = """
Александр Алексей Анатолий Андрей Антон Аркадий Артем Артём Богдан Борис Вадим Валентин Валерий Василий Виктор
Виталий Владимир Владислав Всеволод Вячеслав Геннадий Георгий Григорий Денис Дмитрий Евгений Егор Иван Игорь
Илья Кирилл Константин Леонид Максим Михаил Никита Николай Олег Павел Петр Пётр Сергей Станислав Степан Тарас
Федор Фёдор Юрий Ярослав Олександр Олексій Андрій Богдан Василь Віктор Віталій Володимир Дмитро Євген Іван Ігор
Микола Михайло Олег Остап Павло Петро Сергій Степан Тарас Юрій Ярослав Назар Ростислав Святослав Остап Орест
Анастасия Анна Валентина Валерия Вера Виктория Галина Дарья Екатерина Елена Елизавета Ирина Кристина Ксения
Людмила Марина Мария Наталья Наталия Нина Оксана Ольга Светлана София Софья Татьяна Юлия Яна Анастасія Ганна
Дарина Катерина Олена Ірина Людмила Марія Наталія Оксана Ольга Світлана Софія Тетяна Юлія Христина Зоряна
Оленка Галя Уляна Мирослава Соломія Богдана Лариса Тамара Зинаида Зінаїда Валентина Антонина Любовь Любов
"""

# Arab given names as written in Arabic script. Compound "عبد X" names are matched through "عبد" + next word.
ARABIC = """
محمد أحمد محمود مصطفى علي عمر عثمان حسن حسين خالد خليل إبراهيم إسماعيل يوسف يونس يحيى يعقوب موسى عيسى
عبدالله عبدالرحمن عبدالكريم عبدالعزيز عبدالقادر طارق زياد زيد سامي سمير سليم سليمان صالح صلاح ضياء عادل
عماد عمار فادي فارس فيصل فراس كمال ماجد مازن مالك مراد مروان منصور نبيل ناصر نزار هاني هشام وائل وليد ياسر
ياسين أيمن أسامة أنس باسل بلال بشار بكر جمال جميل حامد حمزة حيدر رامي رائد رشيد رياض زكريا شادي شريف عصام
غسان قاسم لؤي ماهر معاذ مهند نضال هيثم جعفر عباس عدنان توفيق رضوان بسام عمرو
فاطمة عائشة خديجة زينب مريم آمنة حليمة سعاد سلمى ليلى هند رنا ريم رهف دانة لينا سارة هبة آلاء إسراء رغد
شيماء ياسمين نادية نجلاء سميرة سهام منال دعاء أسماء بشرى حنان روان رزان زهراء غادة لمى ميساء نسرين هالة
وفاء رقية جنى تسنيم بتول
"""
# Arabic names that are also everyday words: counted only beside another name part.
ARABIC_WEAK = """
صباح فجر ضحى نور أمل سلام فداء هدى منى رحمة نصر سعيد كريم أمين حسنى جود شهد عبير ندى بيان إيمان أمان عزيز
"""

# Arab and other regional names in Latin script, for English text.
LATIN = """
Mohammed Mohamed Muhammad Mohammad Ahmed Ahmad Mahmoud Mahmud Mustafa Mostafa Ali Omar Umar Othman Osman Hassan
Hasan Hussein Husein Hussain Khaled Khalid Khalil Ibrahim Ismail Youssef Yusuf Yousef Younis Yahya Yaqub Musa
Issa Abdullah Abdallah Abdulrahman Abdelkarim Abdulaziz Abdelkader Tariq Tarek Ziad Ziyad Zaid Sami Samir Salim
Suleiman Sulaiman Saleh Salah Diaa Adel Imad Ammar Fadi Fares Faisal Firas Kamal Majed Mazen Malik Murad Marwan
Mansour Nabil Nasser Nizar Hani Hisham Wael Walid Yasser Yasin Ayman Osama Usama Anas Basel Bilal Bashar Bakr
Jamal Hamid Hamza Haidar Haider Rami Raed Rashid Riyad Riad Zakaria Shadi Sharif Issam Ghassan Qasim Kassem
Louay Maher Muath Mohannad Nidal Haitham Jaafar Abbas Adnan Tawfiq Radwan Bassam Amr
Fatima Fatma Aisha Aysha Khadija Zainab Zeinab Maryam Mariam Amina Halima Suad Salma Layla Leila Hind Rana Reem
Rahaf Dana Lina Sara Sarah Heba Alaa Israa Raghad Shaimaa Yasmin Yasmine Nadia Najla Samira Siham Manal Doaa
Asma Bushra Hanan Rawan Razan Zahraa Ghada Lama Maysa Nisreen Hala Wafa Ruqaya Jana Tasnim Batoul
John James David Michael Robert William Thomas Daniel Mark Peter Paul George Richard Charles Joseph Andrew
Mary Elizabeth Sarah Anna Emma Susan Margaret Helen Ruth Julia Laura Kate Catherine Jane Alice Grace
"""

# Surname shapes by phonetic key ending (applied to capitalised tokens only, after a case ending is removed).
SURNAME_ENDINGS = ("ian", "iaC", "ov", "ova", "ev", "eva", "iev", "ieva", "enko", "Cuk", "uk", "iuk", "ski", "skii",
                   "ska", "skaia", "zade", "oHlu", "uni", "unC", "in", "ina", "ic", "ovic", "evic", "ovna", "evna",
                   "ivna", "Svili", "dze", "ovskii", "evskii", "ovski")
# Armenian-script surnames have Armenian shapes only (a Slavic -eva inside an inflected Armenian word is not one).
ARMENIAN_SURNAME_ENDINGS = ("ian", "iaC", "uni", "unC")
# Endings that are too common in ordinary words to count alone (Россия → "rosia" has none, but Украина ends
# in "ina"): these need a given name beside them.
WEAK_SURNAME_ENDINGS = ("in", "ina", "ic", "uk")


def _keys(words: str) -> set[str]:
    return {form for w in words.split() for form in given_forms(phonetic(w))}


GIVEN_KEYS: frozenset[str] = frozenset(_keys(ARMENIAN) | _keys(AZERBAIJANI) | _keys(SLAVIC) | _keys(LATIN))
ARABIC_GIVEN: frozenset[str] = frozenset(normalise_arabic(w) for w in ARABIC.split())
ARABIC_GIVEN_WEAK: frozenset[str] = frozenset(normalise_arabic(w) for w in ARABIC_WEAK.split())
# Arabic words that join parts of one name.
ARABIC_JOINERS = frozenset(normalise_arabic(w) for w in "بن ابن بنت أبو ابو أم عبد".split())


# --- Given names from a published name dictionary ---------------------------------------------------------------
# Jörg Michael's nam_dict.txt (2008, GNU Free Documentation License 1.2+) as shipped inside the PyPI package
# gender-guesser 0.4.0 (GPLv3): about 48,000 first names with a frequency per country. Only the columns of the
# regions served (and English-speaking ones, for English text) are read. These names are CONTEXT evidence only
# (after "witness", "neighbour", beside a surname…): many are also words or places, so a name of this list
# standing alone is not redacted.
NAM_DICT_COUNTRIES = {"great_britain": 0, "ireland": 1, "usa": 2, "russia": 37, "belarus": 38, "moldova": 39,
                      "ukraine": 40, "armenia": 41, "azerbaijan": 42, "georgia": 43, "the_stans": 44, "turkey": 45,
                      "arabia": 46}
ARABIA = NAM_DICT_COUNTRIES["arabia"]


def _nam_dict_lines() -> list[str]:
    from importlib import resources

    path = resources.files("gender_guesser").joinpath("data", "nam_dict.txt")
    return path.read_text(encoding="utf-8").splitlines()


def published_given_names() -> tuple[frozenset[str], frozenset[str]]:
    """(phonetic keys of the names used in the regions served, consonant skeletons of Arab names in Latin
    letters: matched against Arabic script, which writes no short vowels)."""
    from .names import skeleton

    keys: set[str] = set()
    arab_skeletons: set[str] = set()
    columns = sorted(NAM_DICT_COUNTRIES.values())
    for line in _nam_dict_lines():
        if not line or line[0] in "#=" or len(line) < 31:
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        freqs = line[30:]
        if not any(i < len(freqs) and freqs[i] not in " $" for i in columns):
            continue
        for name in parts[1].replace("+", " ").split():
            if len(name) < 3:
                continue
            key = phonetic(name)
            keys |= given_forms(key)
            if ARABIA < len(freqs) and freqs[ARABIA] not in " $":
                bone = skeleton(key)
                if len(bone) >= 3:
                    arab_skeletons.add(bone)
    return frozenset(keys), frozenset(arab_skeletons)
